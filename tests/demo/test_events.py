"""mcld.demo.readable: mcld's input errors become a readable ``gr.Error``; a
failing browser event shows a toast and a status line and leaves every other
output as it was, while API calls still get the error."""

from __future__ import annotations

import inspect
import logging
import warnings

import gradio as gr
import pytest

from mcld.demo import DemoInputError, readable
from mcld.errors import NoPersonError

API = gr.Request(headers={"x-gradio-user": "api"})
BROWSER = gr.Request(headers={})


def _detect(path):
    """Stands for a handler: three outputs, the last one a status line."""
    if path == "nobody":
        raise NoPersonError("No person was found in the source photo.", detail="0 poses")
    if path == "bad":
        raise ValueError("num_inference_steps must be in 1..100, got 0")
    if path == "bug":
        raise KeyError("oops")
    return "overlay", 0, "1 person found in the source photo."


def test_input_errors_become_gradio_errors_with_the_visitors_sentence(caplog):
    fn = readable(_detect)
    assert fn("photo.png") == ("overlay", 0, "1 person found in the source photo.")
    with caplog.at_level(logging.INFO, logger="mcld.app"):
        with pytest.raises(gr.Error, match=r"No person was found in the source photo\.'$"):  # the user message only
            fn("nobody")
    assert "visitor error: No person was found in the source photo." in caplog.text
    with pytest.raises(gr.Error, match="num_inference_steps must be in 1..100, got 0"):
        fn("bad")
    with pytest.raises(KeyError, match="oops"):  # not an input error: left as it is (a bug, traceback logged)
        fn("bug")
    with pytest.raises(gr.Error, match="Upload a source photo"):
        readable(lambda: (_ for _ in ()).throw(DemoInputError("Upload a source photo of a person first.")))()


def test_a_browser_event_answers_a_failure_with_a_toast_and_a_status_line():
    event = readable(_detect, outputs=3, status=2)
    assert list(inspect.signature(event).parameters) == ["path", "request"]
    with warnings.catch_warnings(record=True) as toasts:
        warnings.simplefilter("always")
        overlay, index, status = event("nobody", BROWSER)
    assert [str(t.message) for t in toasts] == ["No person was found in the source photo."]
    assert isinstance(overlay, dict) and overlay == gr.skip() and index == gr.skip()
    assert status == "⚠️ No person was found in the source photo."
    with warnings.catch_warnings(record=True) as toasts:
        warnings.simplefilter("always")
        *_, status = event("bug", request=BROWSER)
    assert status == "⚠️ Something went wrong (KeyError); the server log has the details."
    quiet = readable(_detect, outputs=3, status=2, toast=False)
    with warnings.catch_warnings(record=True) as toasts:
        warnings.simplefilter("always")
        assert quiet("bad", BROWSER)[2] == "⚠️ num_inference_steps must be in 1..100, got 0"
    assert not toasts, "a step chained after one that already said it adds no second toast"
    assert readable(_detect, outputs=1)("nobody", BROWSER) == gr.skip()


def test_api_calls_still_get_the_error_raised():
    event = readable(_detect, outputs=3, status=2)
    with pytest.raises(gr.Error, match="No person was found"):
        event("nobody", API)
    with pytest.raises(gr.Error, match="No person was found"):
        event("nobody", request=API)
    assert event("photo.png", API) == ("overlay", 0, "1 person found in the source photo.")

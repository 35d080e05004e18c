"""How the demo's handlers fail: one decorator, :func:`readable`.

Gradio marks every output of an event whose function raises with a textless
"Error" pill, and ZeroGPU shows an exception other than ``gr.Error`` by its
class name only. :func:`readable` turns mcld's input errors into a readable
``gr.Error`` and, for browser events, answers a failure with a toast and a
status line instead, leaving every other output as it was.

Also :func:`api_value` and :func:`api_endpoint`: an API parameter (or return
value) with no visible component on the page, for endpoints whose browser
event reads a ``gr.State`` instead; those API-only twins raise their errors
(no browser calls them).

Source:
    Our own (the Gradio Space of this repository); the ``x-gradio-user: api``
    header is what ``gradio_client`` sends.
"""

from __future__ import annotations

import functools
import inspect
import logging

import gradio as gr

from ..errors import MCLDError

__all__ = ["api_endpoint", "api_value", "readable", "visitor_error"]

#: The Space's log channel (one ``visitor error: ...`` line per visitor mistake).
LOGGER = logging.getLogger("mcld.app")


def visitor_error(message: str) -> gr.Error:
    """A ``gr.Error`` for a visitor's mistake or unusable file: shown in the
    UI, logged as one line (Gradio would print a traceback per error)."""
    LOGGER.info("visitor error: %s", message)
    return gr.Error(message, print_exception=False)


def _user_error(err: Exception) -> gr.Error:
    """An :class:`MCLDError` is about the input (one log line, its
    ``user_message``); any other ``ValueError`` keeps its traceback in the log."""
    if isinstance(err, MCLDError):
        return visitor_error(err.user_message)
    return gr.Error(str(err))


def _raising(fn):
    """``fn`` raising a readable ``gr.Error`` for ``MCLDError``/``ValueError``."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except (MCLDError, ValueError) as err:
            raise _user_error(err) from None

    return wrapper


def _message(err: Exception, name: str) -> str:
    if isinstance(err, gr.Error):
        return err.message
    if isinstance(err, MCLDError):
        return err.user_message
    LOGGER.exception("handler %s failed", name)
    return f"Something went wrong ({type(err).__name__}); the server log has the details."


def _browser_event(fn, n_outputs: int, status: int | None, toast: bool):
    """``fn`` plus a ``request`` parameter; failures of browser calls become a
    toast, a status line at index ``status`` and ``gr.skip()`` elsewhere."""
    signature = inspect.signature(fn)
    params = list(signature.parameters.values())
    request_param = inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=gr.Request)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        request = kwargs.pop("request", None)
        if len(args) > len(params):  # Gradio passes the request positionally, after fn's own parameters
            request, args = args[len(params)], args[: len(params)]
        try:
            return fn(*args, **kwargs)
        except Exception as err:  # noqa: BLE001 - every failure becomes a message, none an error state
            if request is not None and (request.headers.get("x-gradio-user") or "") == "api":
                raise
            message = _message(err, fn.__name__)
            if toast:
                gr.Warning(message, title="Error")
            out = [gr.skip()] * n_outputs
            if status is not None:
                out[status] = f"⚠️ {message}"
            return tuple(out) if n_outputs > 1 else out[0]

    wrapper.__signature__ = signature.replace(parameters=[*params, request_param])
    wrapper.__annotations__ = {**getattr(fn, "__annotations__", {}), "request": gr.Request}
    return wrapper


def readable(fn=None, *, outputs: int | None = None, status: int | None = None, toast: bool = True):
    """The one error decorator of the demo's handlers and GPU functions.

    ``MCLDError`` (its ``user_message``, one log line) and ``ValueError``
    (its text, traceback logged) become a ``gr.Error``; a ``gr.Error`` passes.

    Args:
        fn: The function (``None``: used as ``@readable(outputs=...)``).
        outputs: ``None``: raise the readable ``gr.Error`` (the ZeroGPU
            function, in-process calls). A number: ``fn`` is a browser event
            with that many outputs; a failing browser call shows a toast, puts
            ``"⚠️ <message>"`` at output index ``status`` and ``gr.skip()`` in
            every other output, while calls from ``gradio_client`` (header
            ``x-gradio-user: api``) still get the error raised.
        status: Index of the Markdown output that gets the message, or ``None``.
        toast: Show the toast (``False`` for a step chained after one that
            already said it: one message per cause).

    Returns:
        The wrapped function (with ``outputs``: ``fn``'s signature plus
        ``request: gr.Request``).
    """
    if fn is None:
        return functools.partial(readable, outputs=outputs, status=status, toast=toast)
    if outputs is None:
        return _raising(fn)
    return _browser_event(_raising(fn), outputs, status, toast)


def api_value(value, choices, label: str) -> gr.Radio:
    """A parameter (or return value) of API endpoints only: a hidden
    ``gr.Radio`` (a public component; never shown, so the page never sets it).
    ``view_api()`` lists it as ``Literal[...]`` of ``choices``, and
    ``Radio.preprocess`` refuses any other value with a ``gr.Error`` naming
    the choices. Create it inside the ``gr.Blocks``.

    Args:
        value: The default (e.g. ``"photo"``), one of ``choices``.
        choices: The strings the API accepts.
        label: The component's label (``"target_mode"``).

    Returns:
        The hidden ``gr.Radio``.
    """
    return gr.Radio(list(choices), value=value, visible=False, label=label)


def api_endpoint(fn, inputs, outputs, *, api_name: str, swap: dict, **kwargs):
    """The public twin of a browser event: ``fn`` on the same components
    except those in ``swap`` (a ``gr.State`` the browser sets -> an
    :func:`api_value`), triggered by no element of the page, named ``api_name``.
    Only API clients call it, so ``fn`` should raise its errors (``readable(fn)``,
    no ``outputs``): raw HTTP callers then get the message too. Pass the browser
    event's ``concurrency_id`` so that both share one queue.

    Args:
        fn: The raising function (:func:`readable` without ``outputs``).
        inputs: The browser event's inputs.
        outputs: The browser event's outputs.
        api_name: The endpoint's name.
        swap: ``{component: its API stand-in}``.
        **kwargs: More ``gr.on`` options (concurrency).
    """
    by_id = {id(k): v for k, v in swap.items()}
    replace = [by_id.get(id(c), c) for c in inputs], [by_id.get(id(c), c) for c in outputs]
    return gr.on([], fn, replace[0], replace[1], api_name=api_name, **kwargs)

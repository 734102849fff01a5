"""Reserve activations from the desk: activating an agreement or capacity reserve for an
incident, and withdrawing an activation (the list and the form's choices: ``web.reserves``).

Each post calls the use case the API route calls (``dispatch.activations``) with the API's
input model, after the same role and scope checks (dispatcher, ``draw:agreement``).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.responses import Response

from dispatch import activations
from dispatch.models.activations import ActivationCancelIn, ActivationIn, ReserveKind
from relief.platform.api import PathId, settings_of
from relief.platform.models import Role
from relief.platform.principal import Principal
from web.desk import _aware, _desk_post, _Done
from web.forms import FormState, build
from web.render import translator
from web.routing import ConsoleRoute
from web.session import ConsoleUser, Form

router = APIRouter(route_class=ConsoleRoute)

SCOPE = "draw:agreement"  # as the API's activation routes


class _ReserveForm(FormState):
    """The activation form: an error about the contract or the producer (the API's fields
    ``agreement`` and ``capacity``) belongs to the form's one reserve choice."""

    def add(self, name: str | None, message: str) -> None:
        """As FormState.add, ``agreement`` and ``capacity`` read as ``reserve``."""
        super().add("reserve" if name in ("agreement", "capacity") else name, message)


def _kind(value: str) -> tuple[ReserveKind | None, int | None]:
    kind, _, ident = value.partition(":")
    if kind not in ReserveKind.__members__ or not ident.isdigit():
        return None, None
    return ReserveKind(kind), int(ident)


def _allowed(user: Principal) -> None:
    user.require_role(Role.dispatcher)
    user.require_scope(SCOPE)


@router.post("/incidents/{incident_id}/activations", response_class=HTMLResponse)
def post_activation(request: Request, incident_id: PathId, user: ConsoleUser, form: Form
                    ) -> Response:
    """Activate an agreement or capacity reserve for the incident."""
    _allowed(user)
    tr = translator(request)
    state = _ReserveForm(values=FormState.of(form).values)
    kind, ident = _kind(state.value("reserve"))
    if kind is None:
        state.add("reserve", tr("form.error.choose"))
        state.status = 422
    data = None
    if not state.failed:
        when = state.value("activated_at")
        only = FormState(values={k: state.value(k) for k in ("quantity", "note")})
        data = build(ActivationIn, only, tr, **{kind.value: ident},
                     activated_at=_aware(when, request) if when else None)
        state.errors.update(only.errors)
        state.message, state.status = only.message, only.status
    today = settings_of(request).today()
    return _desk_post(
        request, user, form, incident_id, "activation", None, data=data, state=state,
        run=lambda s, d, _c: _Done(id=activations.activate(
            s, incident_id=incident_id, data=d, actor=user.actor, today=today).id or 0),
        after=f"/console/incidents/{incident_id}?done=activated#activations")


@router.post("/incidents/{incident_id}/activations/{activation_id}/cancel",
             response_class=HTMLResponse)
def post_cancel_activation(request: Request, incident_id: PathId, activation_id: PathId,
                           user: ConsoleUser, form: Form) -> Response:
    """Withdraw an activation (refused while approved plans draw on it)."""
    _allowed(user)
    return _desk_post(
        request, user, form, incident_id, f"activation-{activation_id}", ActivationCancelIn,
        lambda s, d, _c: _Done(id=activations.cancel(
            s, incident_id=incident_id, activation_id=activation_id, data=d,
            actor=user.actor).id or 0),
        after=f"/console/incidents/{incident_id}?done=activation_cancelled#activations")

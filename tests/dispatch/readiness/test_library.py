"""The scenario library through the API: validation names the field and writes nothing, an
edit writes the next version, retries change nothing, and only planners may write."""

from __future__ import annotations

from sqlalchemy import func, select

from dispatch.readiness.models import ReadinessScenario, ScenarioVersion
from tests.dispatch.readiness.conftest import Ready


def _count(ready: Ready) -> tuple[int, int]:
    with ready.world.db.read_session() as s:
        return (s.execute(select(func.count()).select_from(ReadinessScenario)).scalar_one(),
                s.execute(select(func.count()).select_from(ScenarioVersion)).scalar_one())


def test_bad_scenarios_get_a_4xx_naming_the_field_and_write_nothing(ready: Ready) -> None:
    """Township outside the county, unknown township, share out of range, unknown county,
    missing source, duplicate township: each a 4xx naming its field, nothing written."""
    api = ready.world.dispatcher
    cases = [
        (ready.scenario(townships=["320612101", "320682101"]), 422, "townships.1"),
        (ready.scenario(townships=["320612999"]), 422, "townships.0"),
        (ready.scenario(displaced_share=1.5), 422, "displaced_share"),
        (ready.scenario(sheltered_share=-0.1), 422, "sheltered_share"),
        (ready.scenario(county="320699"), 404, "county"),
        (ready.scenario(county="320612101"), 422, "county"),
        (ready.scenario(displaced_source=""), 422, "displaced_source"),
        (ready.scenario(townships=["320612101", "320612101"]), 422, "townships"),
        (ready.scenario(hazard="meteor"), 422, "hazard"),
    ]
    for body, status, field in cases:
        r = api.post("/readiness/scenarios", body)
        assert r.status_code == status, (field, r.text)
        assert field in [f["field"] for f in r.json()["error"]["fields"]], (field, r.text)
    assert _count(ready) == (0, 0)


def test_edits_write_versions_and_retries_change_nothing(ready: Ready) -> None:
    """POST makes version 1 (a retry with the same key returns it, a second POST is a 409);
    PATCH with new content makes version 2, a PATCH repeating it makes none; the people
    follow the shares; viewers may read but not write."""
    api = ready.world.dispatcher
    first = api.post("/readiness/scenarios", ready.scenario(), key="lib-1")
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["code"] == "320612-typhoon" and body["current_version"] == 1
    # 20,000 and 10,000 people, 1 % displaced, half of them sheltered
    assert body["current"]["people"] == 300
    assert [t["sheltered"] for t in body["current"]["townships"]] == [100, 50]
    again = api.post("/readiness/scenarios", ready.scenario(), key="lib-1")
    assert again.status_code == 201 and again.json() == body
    assert api.post("/readiness/scenarios", ready.scenario()).status_code == 409
    assert _count(ready) == (1, 1)

    edit = api.patch("/readiness/scenarios/320612-typhoon",
                     {"displaced_share": 0.02, "displaced_basis": "cited",
                      "displaced_source": "a cited figure"})
    assert edit.status_code == 200, edit.text
    assert edit.json()["current_version"] == 2 and edit.json()["current"]["people"] == 600
    same = api.patch("/readiness/scenarios/320612-typhoon", {"displaced_share": 0.02})
    assert same.status_code == 200 and same.json()["current_version"] == 2
    bad = api.patch("/readiness/scenarios/320612-typhoon", {"townships": ["320682101"]})
    assert bad.status_code == 422 and bad.json()["error"]["fields"][0]["field"] == "townships.0"
    nulled = api.patch("/readiness/scenarios/320612-typhoon", {"name": None})
    assert nulled.status_code == 422 and nulled.json()["error"]["fields"][0]["field"] == "name"
    versions = ready.world.viewer.get("/readiness/scenarios/320612-typhoon/versions").json()
    assert [(v["version"], v["people"]) for v in versions] == [(1, 300), (2, 600)]
    assert _count(ready) == (1, 2)

    assert ready.world.viewer.post("/readiness/scenarios",
                                   ready.scenario(hazard="flood")).status_code in (403, 422)
    assert ready.world.viewer.patch("/readiness/scenarios/320612-typhoon",
                                    {"active": False}).status_code == 403
    off = api.patch("/readiness/scenarios/320612-typhoon", {"active": False})
    assert off.status_code == 200 and off.json()["active"] is False
    assert off.json()["current_version"] == 2
    assert ready.world.viewer.get("/readiness/scenarios").json() == []
    assert len(ready.world.viewer.get("/readiness/scenarios", include_inactive=True).json()) == 1

"""The people file behind a running gateway: a bad edit keeps the map, logs and counts."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from app.core import ids
from tests.support.live import LiveStack, get, post

pytestmark = pytest.mark.server

PERSON = "query($id: ID) { person(id: $id) { users { provider nativeId } } }"
USERS = [{"provider": "KRATOS", "id": "k-1"}, {"provider": "ZITADEL", "id": "z-1"}]


def test_a_bad_edit_keeps_the_people_and_counts_a_failure(tmp_path: Path) -> None:
    path = tmp_path / "people.json"
    path.write_text(json.dumps([{"id": "p-1", "users": USERS}]))
    with LiveStack(env={"GATEWAY_PEOPLE_FILE": str(path)}) as live:
        variables = {"id": ids.encode_person("p-1")}
        assert len(post(live.url, PERSON, variables)["data"]["person"]["users"]) == 2
        path.write_text('[{"id": "p-1", "users": "everyone"}]')
        metric = "gateway_people_reload_failures_total 1.0"
        deadline = time.monotonic() + 30  # the file is looked at again within a second or so
        while metric not in get(live.url.replace("/graphql", "/metrics"))[2].decode():
            assert time.monotonic() < deadline, "the failed reload was not counted"
            answer = post(live.url, PERSON, variables)
            # Meanwhile, and after, the people loaded before still answer.
            assert len(answer["data"]["person"]["users"]) == 2
            time.sleep(0.2)
        assert len(post(live.url, PERSON, variables)["data"]["person"]["users"]) == 2

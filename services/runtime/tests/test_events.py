"""events — every stdout line is one proto3-JSON RuntimeEvent with events.proto's field names."""

import re
from datetime import datetime

from conftest import REPO_ROOT

PROTO = (REPO_ROOT / "proto" / "mambalign" / "v1" / "events.proto").read_text()


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.capitalize() for p in rest)


def message_fields(name: str) -> dict[str, str]:
    """lowerCamelCase field name -> type of `message <name>` in events.proto."""
    body = re.search(r"message " + name + r" \{(.*?)\n  \}", PROTO, re.S).group(1)
    return {camel(f): t for t, f in re.findall(r"^\s+(?:repeated )?([\w.<>, ]+?) (\w+) = \d+;", body, re.M)}


def oneof_members() -> dict[str, str]:
    body = re.search(r"oneof kind \{(.*?)\}", PROTO, re.S).group(1)
    return {camel(f): t for t, f in re.findall(r"(\w+) (\w+) = \d+;", body)}


def test_sft_events_follow_the_contract(sft_run):
    _, events = sft_run
    members = oneof_members()
    assert set(members) == {"started", "progress", "checkpointSaved", "metrics", "artifact", "finished", "error"}
    kinds = []
    for event in events:
        datetime.strptime(event["time"], "%Y-%m-%dT%H:%M:%S.%fZ")
        (kind,) = set(event) - {"time"}
        kinds.append(kind)
        fields = message_fields(members[kind])
        assert set(event[kind]) <= set(fields), (kind, set(event[kind]) - set(fields))
        for key, value in event[kind].items():
            if fields[key] in ("uint32", "double"):
                assert isinstance(value, (int, float)) and not isinstance(value, bool), (kind, key)
            if fields[key].startswith("map<"):
                assert isinstance(value, dict)
    assert kinds[0] == "started" and kinds[-2:] == ["artifact", "finished"]
    assert set(kinds) == {"started", "progress", "checkpointSaved", "artifact", "finished"}
    progress = [e["progress"] for e in events if "progress" in e]
    assert {"step", "total", "loss", "lr", "tokensPerS", "gradNorm", "etaS"} <= set(progress[0])

"""The upgrade of a bucket in the earlier IBOV-only layout, against moto: the fixture's lake/
tree (written by commit 534144e) uploaded as that code did, then moved key by key."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from b3_assets.lake.upgrade import UpgradePlan, apply_bucket, bucket_needs_upgrade, plan_bucket
from b3_contract.lake_keys import Unit

LAKE = Path(__file__).resolve().parents[1] / "fixtures" / "old_layout" / "data" / "lake"
UNITS = {Unit("IBOV", date.fromisoformat(d)) for d in ("2025-03-05", "2025-03-06", "2025-07-14")}
MULTIPART = "refined/ativos/data=2025-03-05/acao=VALE3/part-00000.parquet"
GLUE = "glue/refine_job.py"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def bucket(aws):
    """The bucket as the earlier code left it: raw objects with their sha256 in the metadata,
    refined files as the Glue job uploaded them (one through a multipart upload, whose ETag is
    not an MD5), all AES256-encrypted, and the deployed job under glue/."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=aws.bucket)
    for path in sorted(LAKE.rglob("*")):
        if not path.is_file():
            continue
        key, data = path.relative_to(LAKE).as_posix(), path.read_bytes()
        if key == MULTIPART:
            upload = s3.create_multipart_upload(
                Bucket=aws.bucket, Key=key, ServerSideEncryption="AES256"
            )
            part = s3.upload_part(
                Bucket=aws.bucket, Key=key, UploadId=upload["UploadId"], PartNumber=1, Body=data
            )
            s3.complete_multipart_upload(
                Bucket=aws.bucket,
                Key=key,
                UploadId=upload["UploadId"],
                MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]},
            )
            continue
        extra = {"Metadata": {"sha256": sha(data)}} if key.startswith("raw/") else {}
        s3.put_object(Bucket=aws.bucket, Key=key, Body=data, ServerSideEncryption="AES256", **extra)
    s3.put_object(Bucket=aws.bucket, Key=GLUE, Body=b"# the deployed job")
    return s3, aws.bucket


def listing(s3, bucket: str) -> dict[str, tuple[str, object]]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {
        item["Key"]: (item["ETag"], item["LastModified"])
        for page in pages
        for item in page.get("Contents", [])
    }


def contents(s3, bucket: str) -> dict[str, str]:
    return {
        key: sha(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        for key in listing(s3, bucket)
    }


def new_key(old: str, index: str = "IBOV") -> str:
    parts = old.split("/")
    if parts[0] == "raw":
        return "/".join(["raw", index, *parts[1:]])
    if parts[0] == "refined":
        return "/".join([*parts[:2], f"indice={index}", *parts[2:]])
    return old  # glue/


def moved(before: dict[str, str]) -> dict[str, str]:
    return {new_key(key): digest for key, digest in before.items()}


def test_the_plan_changes_nothing_and_apply_moves_every_byte(bucket) -> None:
    s3, name = bucket
    before, objects = contents(s3, name), listing(s3, name)
    assert bucket_needs_upgrade(s3, name)
    plan = plan_bucket(s3, name)
    assert listing(s3, name) == objects  # the dry run
    assert {move.source: move.target for move in plan.moves} == {
        key: new_key(key) for key in before if key != GLUE
    }
    assert plan.units == UNITS and not plan.conflicts and not plan.strays
    assert plan.moves[-1].source.startswith("raw/")  # a new raw key starts a refine: last
    assert plan.moves[0].source.startswith("refined/")

    done = apply_bucket(s3, name, plan)
    assert done.moves == plan.moves and not done.conflicts
    assert contents(s3, name) == moved(before)
    assert listing(s3, name)[GLUE] == objects[GLUE]
    for move in plan.moves:  # encryption and the recorded checksum travel with the object
        head = s3.head_object(Bucket=name, Key=move.target)
        assert head["ServerSideEncryption"] == "AES256"
        if move.source.startswith("raw/"):
            assert head["Metadata"]["sha256"] == before[move.source]

    assert not bucket_needs_upgrade(s3, name)
    assert plan_bucket(s3, name) == UpgradePlan()
    assert apply_bucket(s3, name, plan) == UpgradePlan()  # the old plan again: all done


def test_conflicts_and_strays_are_reported_and_kept(bucket) -> None:
    s3, name = bucket
    other = "refined/header/indice=IBOV/data=2025-03-06/part-00000.parquet"
    s3.put_object(Bucket=name, Key=other, Body=b"other bytes")
    s3.copy_object(  # a copy already made (a run that died before deleting the source)
        Bucket=name,
        Key="raw/IBOV/2025-07-14/dados_originais.parquet",
        CopySource={"Bucket": name, "Key": "raw/2025-07-14/dados_originais.parquet"},
    )
    strays = ["raw/2025-03-05/notes.txt", "refined/setores/data=2025-03-05/x.csv", "raw/x"]
    for key in strays:
        s3.put_object(Bucket=name, Key=key, Body=b"stray")
    s3.put_object(Bucket=name, Key="refined/ativos/_SUCCESS", Body=b"")  # Spark's: ignored
    before = contents(s3, name)

    plan = plan_bucket(s3, name)
    source = "refined/header/data=2025-03-06/part-00000.parquet"
    assert plan.conflicts == [f"{source}: {other} exists with other bytes; both kept"]
    assert [line.split(":")[0] for line in plan.strays] == sorted(strays)
    assert [move.source for move in plan.moves if move.identical] == [
        "raw/2025-07-14/dados_originais.parquet"
    ]
    done = apply_bucket(s3, name, plan)
    assert done.conflicts == plan.conflicts and done.strays == plan.strays
    after = contents(s3, name)
    kept = {*strays, source, other, GLUE, "refined/ativos/_SUCCESS"}
    assert {key: after[key] for key in kept} == {key: before[key] for key in kept}
    assert after == {
        (key if key in kept else new_key(key)): digest
        for key, digest in before.items()
        if key != "raw/IBOV/2025-07-14/dados_originais.parquet"
    }
    again = plan_bucket(s3, name)
    assert again.empty and again.conflicts == plan.conflicts and again.strays == plan.strays


class Crash(BaseException):
    """The process dies here."""


def test_a_crash_is_finished_by_the_next_run(bucket, monkeypatch: pytest.MonkeyPatch) -> None:
    s3, name = bucket
    before = contents(s3, name)
    plan = plan_bucket(s3, name)
    half = len(plan.moves) // 2
    apply_bucket(s3, name, UpgradePlan(moves=plan.moves[:half]))  # died after half the moves
    middle = contents(s3, name)
    assert Counter(middle.values()) == Counter(before.values())
    again = plan_bucket(s3, name)
    assert again.moves == plan.moves[half:]

    deletes = 0
    delete = s3.delete_object

    def dies_on_the_fifth(**request):
        nonlocal deletes
        deletes += 1
        if deletes == 5:  # copied and compared, the source not yet deleted
            raise Crash
        return delete(**request)

    monkeypatch.setattr(s3, "delete_object", dies_on_the_fifth)
    with pytest.raises(Crash):
        apply_bucket(s3, name, again, threads=1)  # one at a time: the fifth is known
    monkeypatch.setattr(s3, "delete_object", delete)
    caught = again.moves[4]
    assert caught.source in listing(s3, name) and caught.target in listing(s3, name)
    last = plan_bucket(s3, name)
    assert last.moves == [replace(caught, identical=True), *again.moves[5:]]
    apply_bucket(s3, name, last)
    assert contents(s3, name) == moved(before)
    assert plan_bucket(s3, name).empty

"""Anchoring a convention's record: the head of its milestone chain (records/chain.py)
timestamped by the configured authority, the token kept (table chain_anchors, migration 010).

The chain alone shows that no row was edited without recomputing every later hash; whoever can
write the database can recompute them all. A token over the head, signed by an authority
outside Pacte, pins the head's hash at a time: a record rewritten afterwards, even with a chain
recomputed end to end, no longer has that hash at that seq, and `verify_anchors` says so.

What is timestamped is the SHA-256 of the text

    pacte-chain-head\n<convention id>\n<seq>\n<hash of milestone seq>

so that a token names its convention and position, and anyone can recompute it from a row.
The portal's sweep anchors on schedule (application/anchoring.py); `audit.py verify`
(auditing/verify.py) and `check-bundle` (auditing/bundle.py) check the tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from documents.timestamps import check_token, request_token, sha256_digest
from infra.database import Database
from storage import documents as sql
from storage.documents import AnchorRow


def anchored_text(convention_id: str, seq: int, head_hash: str) -> bytes:
    """The bytes whose SHA-256 a token over this chain head covers."""
    return f"pacte-chain-head\n{convention_id}\n{seq}\n{head_hash}".encode()


async def anchor_convention(database: Database, convention_id: str, tsa_url: str) -> AnchorRow:
    """Timestamp the convention's chain head and keep the token; a head anchored already
    keeps its first token. LookupError when the convention has no milestone."""
    head = await sql.chain_head(database, convention_id)
    if head is None:
        raise LookupError(f"convention {convention_id!r} has no milestone to anchor")
    seq, head_hash = head
    existing = {
        anchor.head_seq: anchor
        for anchor in await sql.anchors_of_convention(database, convention_id)
    }
    if seq in existing:
        return existing[seq]
    token = await request_token(
        tsa_url, sha256_digest(anchored_text(convention_id, seq, head_hash))
    )
    from asn1crypto import cms

    gen_time = (
        cms.ContentInfo.load(token)["content"]["encap_content_info"]["content"]
        .parsed["gen_time"]
        .native
    )
    return await sql.insert_anchor(
        database,
        convention_id=convention_id,
        head_seq=seq,
        head_hash=head_hash,
        tsa_url=tsa_url,
        token=token,
        gen_time=gen_time,
    )


@dataclass(frozen=True)
class AnchorProblem:
    """One anchor that does not hold, and why."""

    convention_id: str
    head_seq: int
    reason: str


async def verify_anchors(
    database: Database, convention_id: str, trust_roots: list[Path]
) -> tuple[int, list[AnchorProblem]]:
    """Check every token of a convention against the record as it is now: (anchors checked,
    problems). A milestone whose hash changed since it was anchored is named."""
    problems: list[AnchorProblem] = []
    anchors = await sql.anchors_of_convention(database, convention_id)
    for anchor in anchors:
        current = await sql.milestone_hash(database, convention_id, anchor.head_seq)
        if current is None:
            problems.append(
                AnchorProblem(convention_id, anchor.head_seq, "the anchored milestone is gone")
            )
        elif current != anchor.head_hash:
            problems.append(
                AnchorProblem(
                    convention_id,
                    anchor.head_seq,
                    f"milestone {anchor.head_seq} now hashes to {current}, but "
                    f"{anchor.head_hash} was timestamped on {anchor.gen_time:%Y-%m-%d %H:%M} "
                    "UTC: the record was rewritten after it was anchored",
                )
            )
        if not trust_roots:
            # The hash above is still compared; the token's signature needs a root to mean
            # anything, and none was given: said, never passed over in silence.
            problems.append(
                AnchorProblem(
                    convention_id,
                    anchor.head_seq,
                    "token not checked: no trust root for the timestamp authority "
                    "(set PACTE_TRUST_ROOTS)",
                )
            )
            continue
        digest = sha256_digest(anchored_text(convention_id, anchor.head_seq, anchor.head_hash))
        check = await check_token(anchor.token, digest, trust_roots)
        problems.extend(
            AnchorProblem(convention_id, anchor.head_seq, f"token: {reason}")
            for reason in check.problems
        )
    return len(anchors), problems

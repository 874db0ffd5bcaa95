"""Client order ids from blocks reserved durably in the journal (app/_idblocks.py, Journal.reserve_id_block):
what covers a power loss now that intents are committed with synchronous=NORMAL."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from trio_hedge.app import Journal, open_async_journal
from trio_hedge.app._idblocks import ReservedIds, in_blocks
from trio_hedge.app._journal import IdBlockOverlap, JournalClosed

GRVT_RANGE = (2**63, 2**64 - 1)


def test_journal_runs_normal_and_block_reservations_persist_without_overlap(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    with Journal.open(path) as j:
        assert j.statistics().synchronous == 1  # NORMAL: a commit survives kill -9 of the process
        j.reserve_id_block("grvt", 2**64 - 4096, 4096)  # ids past SQLite's signed 64-bit INTEGER
        j.reserve_id_block("grvt", 100, 10)
        j.reserve_id_block("backpack", 100, 10)  # another venue's namespace
        with pytest.raises(IdBlockOverlap):
            j.reserve_id_block("grvt", 105, 10)
        assert j.statistics().synchronous == 1  # back to NORMAL after the block's fsynced commit
    with Journal.open(path) as j:
        assert j.id_blocks("grvt") == [(2**64 - 4096, 4096), (100, 10)]
        assert j.id_blocks("backpack") == [(100, 10)]
    assert in_blocks(str(2**64 - 1), [(2**64 - 4096, 4096)])
    assert not in_blocks(str(2**64 - 4097), [(2**64 - 4096, 4096)])
    assert not in_blocks("grvt-17", [(0, 100)]) and not in_blocks("110", [(100, 10)])


async def test_ids_come_from_durable_blocks_and_the_next_block_is_reserved_after_a_send(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    async with open_async_journal(path) as journal:
        ids = await ReservedIds.open(journal, "grvt", *GRVT_RANGE, block_size=8)
        first = await journal.id_blocks("grvt")
        assert len(first) == 1 and ids.blocks_reserved == 1
        lo, size = first[0]
        got = [ids.next_id() for _ in range(4)]
        assert got == [str(lo + k) for k in range(4)]  # in order, inside the venue's range
        assert all(GRVT_RANGE[0] <= int(c) <= GRVT_RANGE[1] for c in got)
        for c in got:
            await ids.ready(c)  # durable already: returns at once
        assert len(await journal.id_blocks("grvt")) == 1  # the next block is chosen at half, not yet reserved
        await ids.refill()  # what JournaledVenue.place does after the send
        blocks = await journal.id_blocks("grvt")
        assert len(blocks) == 2 and blocks[0] == (lo, size)
        rest = [ids.next_id() for _ in range(4)]
        nxt = ids.next_id()  # the first id of the second block
        assert in_blocks(nxt, [blocks[1]]) and not in_blocks(nxt, [blocks[0]])
        assert all(in_blocks(c, [blocks[0]]) for c in rest)
    # a new run (same journal) never draws from an earlier run's blocks
    async with open_async_journal(path) as journal:
        again = await ReservedIds.open(journal, "grvt", *GRVT_RANGE, block_size=8)
        c = again.next_id()
        assert not in_blocks(c, blocks) and in_blocks(c, await journal.id_blocks("grvt"))


async def test_a_block_used_up_before_its_reservation_is_reserved_before_its_first_intent(tmp_path: Path) -> None:
    async with open_async_journal(tmp_path / "j.sqlite") as journal:
        ids = await ReservedIds.open(journal, "backpack", 1, 2**32 - 1, block_size=4)
        for _ in range(4):
            ids.next_id()
        c = ids.next_id()  # no refill ran: the second block is chosen but not durable
        assert not in_blocks(c, await journal.id_blocks("backpack"))
        with trio.fail_after(5):
            await ids.ready(c)
        assert in_blocks(c, await journal.id_blocks("backpack"))


def test_a_version_1_journal_is_migrated_to_hold_id_blocks(tmp_path: Path) -> None:
    import sqlite3

    from trio_hedge.app._journal import SCHEMA_VERSION, _v0_to_v1

    path = tmp_path / "v1.sqlite"
    raw = sqlite3.connect(path)
    _v0_to_v1(raw)
    raw.execute("INSERT INTO meta (key, value) VALUES ('schema_version', '1')")
    raw.commit()
    raw.close()
    with Journal.open(path, check_budget_ms=1000) as j:  # the schema check wants id_blocks: the migration adds it
        assert j.statistics().schema_version == SCHEMA_VERSION == 2
        j.reserve_id_block("grvt", 2**63, 4096)
        assert j.id_blocks("grvt") == [(2**63, 4096)]


async def test_a_failed_reservation_after_a_send_never_raises_and_reports_the_journal_down(tmp_path: Path) -> None:
    downs: list[str] = []
    async with open_async_journal(tmp_path / "j.sqlite") as journal:
        ids = await ReservedIds.open(journal, "grvt", *GRVT_RANGE, block_size=4,
                                     on_down=lambda exc, where: downs.append(where))
        ids.next_id()
        ids.next_id()  # half: the next block is chosen
    await ids.refill()  # the journal is closed now: logged, not raised (the order is already out)
    assert downs == []  # closed is not an I/O failure
    c = [ids.next_id() for _ in range(3)][-1]  # the chosen block, not durable
    with pytest.raises(JournalClosed):  # before a send it is raised, as the intent's own write would be
        await ids.ready(c)


def test_the_fill_checkpoint_stays_a_margin_behind_the_newest_fill() -> None:
    """A venue's fill times are not in report order (chaos_kill9: a maker fill stamped with its trade's time
    after a later taker fill): the next start must read back far enough to see the earlier-stamped one."""
    from decimal import Decimal

    from trio_hedge.app._reconcile import FILL_CHECKPOINT_MARGIN_NS, fill_checkpoint
    from trio_hedge.domain import Fill, Side

    def fill(ts_ns: int) -> Fill:
        return Fill("backpack", "BTC_USDC_PERP", "1", str(ts_ns), Side.BUY, Decimal("1"), Decimal("0.001"),
                    Decimal("0"), True, ts_ns)

    newest, taker = 1_723_161_398_010_000_000, 1_723_161_397_074_000_000  # the taker fill came after, stamped before
    ck = int(fill_checkpoint(max(f.ts_ns for f in (fill(newest), fill(taker - 5)))))
    assert ck == newest - FILL_CHECKPOINT_MARGIN_NS and ck <= taker
    assert int(fill_checkpoint(newest, previous_ns=newest)) == newest  # never moved back past where it was

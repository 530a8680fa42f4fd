"""article_history and its text rendering for `kazinform history ARTICLE_ID`."""

from __future__ import annotations

from pathlib import Path

from test_warehouse_support import ARTICLE_ID, T0, bare, later, make_record, parsed, writer
from warehouse.history import article_history, render_history
from warehouse.load import load_batch


def test_history_lists_versions_with_their_changes_and_renders_readably(tmp_path: Path) -> None:
    long_body = "\n\n".join(
        f"Абзац номер {i} с достаточно длинным текстом о событиях дня." for i in range(12)
    )
    with writer(tmp_path) as conn:
        load_batch(conn, "r0", [parsed(make_record(body=long_body))])
        edited_body = long_body.replace("Абзац номер 5", "Исправленный абзац 5")
        load_batch(conn, "r1", [parsed(make_record(body=edited_body, title="Новый"), later(60))])
        load_batch(
            conn, "r2", [parsed(make_record(body=edited_body, title="Госвизит Токаева в Москву"), later(120))]
        )
        load_batch(conn, "r3", [bare("gone", later(180))])

        history = article_history(conn, ARTICLE_ID)
        assert history is not None and history.deleted
        assert [(v.version, v.valid_from) for v in history.versions] == [
            (1, T0),
            (2, later(60)),
            (3, later(120)),
        ]
        assert [(c.field, c.flipflop) for c in history.versions[1].changes] == [
            ("title", False),
            ("body", False),
        ]
        assert [(c.field, c.flipflop) for c in history.versions[2].changes] == [
            ("title", True),
            ("deleted", False),
        ]

        text = render_history(history)
        assert "kazinform 7da5a18f: 3 version(s) — DELETED" in text
        assert "v2  2025-11-12 16:00:00 UTC → 2025-11-12 17:00:00 UTC" in text
        assert "title: 'Госвизит Токаева в Москву' → 'Новый'" in text
        assert "-Абзац номер 5 с достаточно длинным текстом о событиях дня." in text
        assert "+Исправленный абзац 5 с достаточно длинным текстом о событиях дня." in text
        assert "Абзац номер 0" not in text  # only the diff's context, not the whole body
        assert "title: 'Новый' → 'Госвизит Токаева в Москву'  [flip-flop]" in text
        assert "deleted: 'false' → 'true'" in text


def test_unknown_article_has_no_history(tmp_path: Path) -> None:
    with writer(tmp_path) as conn:
        assert article_history(conn, "nothing") is None


def test_loaded_in_run_lists_the_runs_articles(tmp_path: Path) -> None:
    from warehouse.queries import LOADED_IN_RUN

    with writer(tmp_path) as conn:
        load_batch(conn, "r0", [parsed(make_record())])
        load_batch(
            conn,
            "r1",
            [parsed(make_record(title="Новый"), later(1)), bare("failed", later(1), article_id=None)],
        )
        assert conn.execute(LOADED_IN_RUN, ["r1", 20]).fetchall() == [
            (
                "changed",
                ARTICLE_ID,
                "Новый",
                "2025-11-12 14:09 UTC",
                ["Наталья Мосунова"],
                ["Токаев", "Россия"],
                2,
            )
        ]

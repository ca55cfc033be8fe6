"""The search benchmark runs end to end at a tiny size (its numbers are not checked:
performance lives in the benchmark's report, not in tests)."""

from benchmarks import search as bench


def test_the_search_part_reports_every_backend_with_recall(capsys):
    code = bench.main(
        [
            "--sizes",
            "300",
            "--backends",
            "exact,faiss-hnsw,qdrant",
            "--images",
            "0",
            "--text-queries",
            "0",
            "--queries",
            "8",
            "--qdrant-max",
            "100",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "| exact | 300 |" in out and "| faiss-hnsw | 300 |" in out and "skipped: embedded Qdrant" in out


def test_rows_carry_what_the_report_needs():
    rows = bench.run([200], backends=["exact", "faiss-ivf"], queries=5, images=0, text_queries=0, data="uniform")
    search = [r for r in rows if r["part"] == "search"]
    assert [r["backend"] for r in search] == ["exact", "faiss-ivf"]
    assert search[0]["recall_at_10"] == 1.0  # exact search is its own ground truth
    assert all({"build_s", "memory_mb", "search_p50_ms", "search_p95_ms"} <= set(r) for r in search)


def test_the_embedding_part_compares_the_indexing_path_with_a_naive_loop(models):
    pipe = models.get("retrieval").pipeline
    naive, indexed = bench.bench_embedding(pipe, images=4, batch_size=2)
    assert naive["speedup"] == 1.0 and indexed["images"] == 4
    assert indexed["images_per_s"] > 0 and "indexing path" in indexed["method"]
    assert "| naive loop" in bench.markdown([naive, indexed])

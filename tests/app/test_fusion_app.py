"""The Fusion lab through the API (/train_fusion, /compare_fusion) and its rendering
in both languages."""

import pytest
from gradio_client.exceptions import AppError


def test_train_fusion_api_signature(client):
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    names = [p["parameter_name"] for p in api["/train_fusion"]["parameters"]]
    assert names[:6] == ["strategy", "hidden_size", "learning_rate", "epochs", "optimizer", "seed"]
    assert {"split", "negatives", "model"} <= set(names)
    assert all(p["parameter_has_default"] for p in api["/train_fusion"]["parameters"])
    assert [p["parameter_name"] for p in api["/compare_fusion"]["parameters"]][0] == "hidden_size"


def test_train_fusion_returns_metrics_and_curves_as_data_deterministically(client):
    request = dict(strategy="hybrid", hidden_size=16, epochs=3, seed=4, api_name="/train_fusion")
    result = client.predict(**request)
    assert result["strategy"] == "hybrid" and result["done"]
    assert result["config"] == {
        "strategy": "hybrid",
        "hidden_size": 16,
        "learning_rate": 0.003,
        "epochs": 3,
        "optimizer": "adam",
        "seed": 4,
        "batch_size": 32,
        "split": "instances",
        "modalities": ["image", "text"],
        "negatives": "either",
        "model": "tiny-clip",
    }
    assert set(result["metrics"]) >= {"train_accuracy", "test_accuracy", "test_loss", "test_auroc"}
    assert result["curves"]["epoch"] == [1, 2, 3] and len(result["curves"]["test_accuracy"]) == 3
    assert sum(map(sum, result["confusion_matrix"]["matrix"])) == result["data"]["test_pairs"]
    again = client.predict(**request)
    assert again["curves"] == result["curves"] and again["metrics"] == result["metrics"]


def test_compare_fusion_trains_the_three_strategies_with_the_same_settings(client):
    results = client.predict(
        epochs=2, hidden_size=8, split="combinations", negatives="shape", api_name="/compare_fusion"
    )
    assert [r["strategy"] for r in results] == ["early", "late", "hybrid"]
    assert all(r["done"] and r["config"]["epochs"] == 2 and r["config"]["split"] == "combinations" for r in results)


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        # The input guard (ui/server/security.py) checks choices and ranges first; the pipeline checks the rest.
        (
            dict(strategy="middle"),
            r"`strategy`: must be one of \['early', 'late', 'hybrid', 'weighted'\], not 'middle'",
        ),
        (dict(strategy="early", epochs=100_000), "`epochs`: must be at least 1 and at most 200, not 100000"),
        (dict(strategy="early", learning_rate=5.0), "`learning_rate`: must be at least 1e-05 and at most 1, not 5"),
        (
            dict(strategy="early", split="random"),
            r"`split`: must be one of \['instances', 'combinations'\], not 'random'",
        ),
        (dict(strategy="early", model="clip-huge"), "clip-huge"),
    ],
)
def test_bad_fusion_requests_get_a_message(client, request_, message):
    with pytest.raises(AppError, match=message):
        client.predict(**request_, api_name="/train_fusion")


def test_results_are_drawn_in_the_pages_language(client):
    from ui.tabs import fusion as tab

    result = client.predict(strategy="early", epochs=2, api_name="/train_fusion")
    for locale, words in (("en", ["Early fusion", "held-out", "mismatch"]), ("zh-CN", ["早期融合", "留出", "不匹配"])):
        summary, loss, accuracy, confusion, _mistakes, table, runs = tab.show(result, [], locale)
        assert all(word in summary + confusion + table for word in words)
        assert set(loss["series"]) == {tab.t("fusion.series_train", locale), tab.t("fusion.series_test", locale)}
        assert len(loss) == 2 * 2 and accuracy["value"].between(0, 1).all()
        assert len(runs) == 1
    # the same run shown twice (a re-render, a language switch) is one row, a new one adds a row
    _, _, _, _, _, _, runs = tab.show(result, runs, "en")
    assert len(runs) == 1
    other = client.predict(strategy="late", epochs=2, api_name="/train_fusion")
    assert len(tab.show(other, runs, "en")[-1]) == 2

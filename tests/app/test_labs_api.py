"""The new labs and the lessons through the API of the real app (gradio_client):
/train_contrastive streams plain, reproducible results; /train_fusion and
/compare_fusion keep their parameters and defaults, with the new ones last; /lessons
returns the lessons as data."""

import pytest
from gradio_client.exceptions import AppError


def parameters(client, endpoint: str) -> list[dict]:
    return client.view_api(print_info=False, return_format="dict")["named_endpoints"][endpoint]["parameters"]


def test_the_fusion_endpoints_keep_their_parameters_and_add_the_new_ones_last(client):
    train = [p["parameter_name"] for p in parameters(client, "/train_fusion")]
    assert train == [
        "strategy",
        "hidden_size",
        "learning_rate",
        "epochs",
        "optimizer",
        "seed",
        "split",
        "negatives",
        "model",
        "modalities",
        "audio_model",
    ]
    compare = {p["parameter_name"]: p for p in parameters(client, "/compare_fusion")}
    assert list(compare)[-3:] == ["modalities", "audio_model", "strategies"]
    assert compare["modalities"]["parameter_default"] == ["image", "text"]
    assert compare["strategies"]["parameter_default"] == ["early", "late", "hybrid"]  # as before: three runs


def test_compare_fusion_trains_the_strategies_asked_for(client):
    results = client.predict(epochs=2, hidden_size=8, strategies=["weighted", "late"], api_name="/compare_fusion")
    assert [r["strategy"] for r in results] == ["weighted", "late"]
    assert list(results[0]["weights"]) == ["image", "text"]
    assert all(set(r["missing"]) == {"all", "chance", "image", "text"} for r in results)
    with pytest.raises(AppError, match="strategies"):
        client.predict(epochs=2, strategies=["middle"], api_name="/compare_fusion")


def test_train_contrastive_streams_reproducible_data(client):
    request = dict(epochs=4, batch_size=5, embedding_size=16, seed=2, api_name="/train_contrastive")
    job = client.submit(**request)
    updates = list(job)
    result = job.result()
    assert result["done"] and len(updates) >= 1 and updates[-1] == result
    assert result["config"] == {
        "embedding_size": 16,
        "batch_size": 5,
        "temperature": 0.1,
        "learn_temperature": False,
        "learning_rate": 0.01,
        "epochs": 4,
        "seed": 2,
        "model": "tiny-clip",
    }
    assert result["curves"]["epoch"] == [1, 2, 3, 4] and len(result["matrix"]["probabilities"]) == 12
    assert set(result["metrics"]) >= {"loss", "diagonal_share", "zero_shot_accuracy", "kept_back_accuracy"}
    again = client.predict(**request)
    assert again["curves"] == result["curves"] and again["matrix"] == result["matrix"]


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (dict(batch_size=20), "`batch_size`: must be at least 2 and at most 9, not 20"),
        (dict(temperature=0), "`temperature`: must be at least 0.01"),
        (dict(model="clip-huge"), "clip-huge"),
    ],
)
def test_bad_contrastive_requests_get_a_message(client, request_, message):
    with pytest.raises(AppError, match=message):
        client.predict(**request_, api_name="/train_contrastive")


def test_the_lessons_are_data_too(client):
    lessons = client.predict(api_name="/lessons")
    assert [lesson["id"] for lesson in lessons] == [
        "joint-embedding",
        "contrastive-learning",
        "attention",
        "fusion-strategies",
        "image-tokens",
        "measuring-abilities",
    ]
    first = lessons[0]["steps"][0]
    assert first["title"]["zh-CN"] == "两个编码器，一个空间" and first["formula"].startswith(r"\cos")
    assert first["try"] == {
        "tab": "search",
        "run": "similarity_matrix",
        "available": True,
        "inputs": {"texts": first["try"]["inputs"]["texts"]},
        "files": {"images": ["cat.jpg", "coffee.jpg", "rocket.jpg", "coins.jpg"]},
    }
    chat = [s["try"] for lesson in lessons for s in lesson["steps"] if s.get("try", {}).get("tab") == "chat"]
    assert len(chat) == 2 and all(t["available"] for t in chat)  # lesson 5 runs the Chat tab

"""The CIFAR-10 judge: a colour network, trained here on a small slice only."""

import os

import numpy as np
import pytest

from zoo.evaluate.classifier import FEATURES_LAYER, features
from zoo.evaluate.judges import JUDGE_NETWORKS, load_judge, train_judge

SHARED = os.path.join(os.environ.get("ZOO_DATA_DIR", "").split(os.pathsep)[0], "cifar10-jpeg")


@pytest.mark.skipif(not os.path.isdir(SHARED), reason="no cifar10-jpeg folder in $ZOO_DATA_DIR")
def test_the_cifar10_judge_is_a_colour_network_with_all_ten_classes(tmp_path):
    card = train_judge("cifar10", epochs=1, take=300, directory=str(tmp_path / "cifar10"))
    assert card["num_classes"] == 10 and card["training"]["examples"] == 300
    assert card["network"] == {"widths": [64, 128, 256], "feature_dim": 256} == {
        "widths": list(JUDGE_NETWORKS[3]["widths"]), "feature_dim": JUDGE_NETWORKS[3]["feature_dim"]}
    assert card["input"].endswith("[32, 32, 3]")
    judge = load_judge("cifar10", directory=str(tmp_path / "cifar10"))
    x = np.random.default_rng(0).uniform(size=(5, 32, 32, 3)).astype(np.float32)
    assert judge.predict(x, verbose=0).shape == (5, 10)
    assert features(judge, x).shape == (5, 256) and judge.get_layer(FEATURES_LAYER).units == 256

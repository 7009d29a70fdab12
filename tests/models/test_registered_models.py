"""Every registered model through the harness (tests/models/harness.py): config, `.keras`
and preset round trips, SavedModel export parity and a short fit on real MNIST.

The list comes from `zoo.registry.registered_models()`, so registering a model adds
it here; a variant without an entry in VARIANT_KWARGS fails (it is not skipped).
A model defined by user code goes through the same harness.
"""

import keras
import pytest

import zoo

from harness import run_model_test

# Tiny networks: the whole harness must stay fast on two CPU cores.
TINY = dict(latent_dim=4, widths=(8, 16), hidden_dim=32)

# Small constructor arguments per variant, non-default where the variant has options,
# so that the config checks see them. Every registered variant needs an entry.
VARIANT_KWARGS = {
    "ae": dict(),
    "beta_tcvae": dict(alpha=1.0, gamma=2.0, beta=4.0, dataset_size=4096, estimator="mss"),
    "beta_vae": dict(beta=4.0, gamma=10.0, capacity_max=5.0, capacity_steps=100, kl_warmup_steps=5),
    "cvae": dict(num_classes=10, label_dropout=0.1),
    "dip_vae": dict(dip_type="ii", lambda_od=2.0, likelihood={"name": "gaussian", "min_scale": 0.01}),
    "factor_vae": dict(gamma=0.5, discriminator_units=(32, 32), discriminator_learning_rate=3e-3),
    "iaf_vae": dict(num_flows=2, context_dim=8, made_hidden_units=(16,)),
    "iwae": dict(num_samples=3),
    "ladder_vae": dict(upper_latent_dims=(3,), ladder_hidden_dim=16),
    # Both stages learning: frozen, an untrained first stage gives codes the second fits
    # at initialization already (tests/models/test_two_stage.py trains it on real codes).
    "pixel_vae": dict(condition_channels=4, pixelcnn_channels=8, pixelcnn_layers=2, pixelcnn_kernel_size=3,
                      free_bits=0.1),
    "two_stage_vae": dict(second_latent_dim=4, second_hidden_dim=64, second_hidden_layers=1, train_first_stage=True,
                          code_sampling="mean"),
    "vae": dict(kl_warmup_steps=4, free_bits=0.05, seed=3),
    "vamp_vae": dict(num_components=8, pseudo_input_init_stddev=0.5),
    # latent_dim: the 7 x 7 code grid of TINY's widths, 4 dimensions a code.
    "vq_vae": dict(latent_dim=49 * 4, num_codes=16, commitment_cost=0.5, usage_decay=0.9, restart_below=0.05,
                   prior={"name": "code_pixelcnn", "channels": 8, "num_layers": 2, "kernel_size": 3}),
    "wae": dict(mmd_weight=5.0, kernel="rbf", kernel_scales=(0.5, 2.0), stochastic_encoder=True),
}
# Options that change a variant's graph, each through the harness once more.
EXTRA_CASES = {
    "cvae_class_prior": ("cvae", dict(num_classes=10, label_every_stage=True, prior="class_conditional",
                                      label_dropout=0.1)),
}

@pytest.mark.parametrize("variant", sorted(zoo.registry.registered_models()))
def test_registered_model_passes_the_harness(variant, mnist_binary, tmp_path):
    if variant not in VARIANT_KWARGS:
        pytest.fail(f"registered model {variant!r} has no entry in VARIANT_KWARGS "
                    "(tests/models/test_registered_models.py): add its small constructor arguments")
    cls = zoo.registry.registered_models()[variant]
    run_model_test(cls, {**TINY, **VARIANT_KWARGS[variant]}, mnist_binary, tmp_path)


@pytest.mark.parametrize("case", sorted(EXTRA_CASES))
def test_graph_changing_options_pass_the_harness(case, mnist_binary, tmp_path):
    variant, kwargs = EXTRA_CASES[case]
    run_model_test(zoo.registry.registered_models()[variant], {**TINY, **kwargs}, mnist_binary, tmp_path)


def test_every_variant_in_the_table_is_registered():
    """A built-in that stops registering itself fails here instead of dropping out of the harness."""
    registered = zoo.registry.registered_models()
    assert not set(VARIANT_KWARGS) - set(registered), sorted(set(VARIANT_KWARGS) - set(registered))
    for variant in VARIANT_KWARGS:
        assert registered[variant].variant == variant
        assert zoo.registry.get_model_class(variant) is registered[variant]


@pytest.fixture()
def clean_registry():
    """Restores the zoo and Keras registries after a test registers a model of its own."""
    models = dict(zoo.registry._MODELS)
    custom_objects = dict(keras.saving.get_custom_objects())
    yield
    zoo.registry._MODELS.clear()
    zoo.registry._MODELS.update(models)
    keras.saving.get_custom_objects().clear()
    keras.saving.get_custom_objects().update(custom_objects)


def test_a_user_defined_model_passes_the_harness_and_loads_back(clean_registry, mnist_binary, tmp_path):
    @zoo.register_model("my_test_vae")
    class MyTestVAE(zoo.VAE):
        """A VAE whose reconstruction term is reweighted: a new option and a new objective."""

        def __init__(self, reconstruction_weight=1.0, **kwargs):
            self.reconstruction_weight = float(reconstruction_weight)
            super().__init__(**kwargs)

        def loss_terms(self, x, condition, training):
            terms = super().loss_terms(x, condition, training)
            kl = terms["kl"]
            return {**terms, "loss": self.reconstruction_weight * terms["reconstruction"] + self.kl_weight() * kl}

        def get_config(self):
            return {**super().get_config(), "reconstruction_weight": self.reconstruction_weight}

    assert zoo.registry.registered_models()["my_test_vae"] is MyTestVAE
    assert MyTestVAE.variant == "my_test_vae"
    run_model_test(MyTestVAE, {**TINY, "reconstruction_weight": 2.0}, mnist_binary, tmp_path)
    # The harness saved a preset of the trained model there: it loads by directory as the user's class.
    loaded = zoo.load(str(tmp_path / "preset"))
    assert type(loaded) is MyTestVAE and loaded.reconstruction_weight == 2.0
    assert zoo.presets.read_metadata(str(tmp_path / "preset"))["variant"] == "my_test_vae"


def test_the_harness_fails_a_model_whose_config_loses_an_argument(clean_registry, mnist_binary, tmp_path):
    """The harness can fail: a constructor argument missing from get_config() would make
    presets and `.keras` files load a different model."""

    @zoo.register_model("my_forgetful_vae")
    class MyForgetfulVAE(zoo.VAE):
        def __init__(self, reconstruction_weight=1.0, **kwargs):
            self.reconstruction_weight = float(reconstruction_weight)
            super().__init__(**kwargs)

    with pytest.raises(AssertionError, match="'reconstruction_weight' is missing from get_config"):
        run_model_test(MyForgetfulVAE, {**TINY, "reconstruction_weight": 2.0}, mnist_binary, tmp_path)

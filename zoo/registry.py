"""The registry of zoo models: variant name -> class.

`@register_model("name")` is the one way a class becomes a zoo model, for the
built-in variants and for user code alike:

    @zoo.register_model("my_vae")
    class MyVAE(zoo.VAE):
        def loss_terms(self, x, condition, training): ...

A registered class is also registered with Keras' serialization (package "zoo"),
so `.keras` files load with `safe_mode=True`, and presets, recipes and the CLI
accept it by name. The built-in variants live in `zoo.models` and register
themselves when that package is imported; the look-ups below import it first, so
they always see them without this module importing any model (no import cycle).
"""

from __future__ import annotations

import importlib

import keras

from zoo.io import did_you_mean

_MODELS: dict[str, type] = {}


def register_model(name: str):
    """Class decorator: registers a `LatentVariableModel` subclass as variant `name`.

    Sets `cls.variant = name`. Re-registering the same class is a no-op (module
    reloads); a second class under a taken name or class name is an error.

    Raises:
        ValueError: `name` is empty or taken by another class, or another
            registered class has the same class name (presets store class names).
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"register_model needs a non-empty variant name, got {name!r}")

    def register(cls):
        # Duck-typed rather than an issubclass check, so that this module needs no
        # model import (zoo.models imports it to register the built-ins).
        if not (isinstance(cls, type) and issubclass(cls, keras.Model) and hasattr(cls, "loss_terms")):
            raise TypeError(f"register_model({name!r}): {cls!r} is not a subclass of zoo.LatentVariableModel")
        taken = _MODELS.get(name)
        if taken is not None and not _same_class(taken, cls):
            raise ValueError(f"model variant {name!r} is already registered to {taken.__module__}.{taken.__name__}")
        for other_name, other in _MODELS.items():
            if other_name != name and other.__name__ == cls.__name__:
                raise ValueError(f"class name {cls.__name__!r} is already registered as variant {other_name!r}; "
                                 "presets record class names, so give the class another name")
        cls.variant = name
        _MODELS[name] = keras.saving.register_keras_serializable(package="zoo", name=cls.__name__)(cls)
        return cls

    return register


def _same_class(a: type, b: type) -> bool:
    """True for one class, or the same class defined again by a module reload."""
    return a is b or (a.__module__, a.__qualname__) == (b.__module__, b.__qualname__)


def _with_builtins() -> dict[str, type]:
    importlib.import_module("zoo.models")  # the built-in variants register on import
    return _MODELS


def registered_models() -> dict[str, type]:
    """Every registered variant, name -> class (a copy), built-ins included."""
    return dict(sorted(_with_builtins().items()))


def get_model_class(name: str) -> type:
    """The class registered as variant `name`.

    Raises:
        ValueError: an unknown name, with the close matches and the known names.
    """
    models = _with_builtins()
    if name not in models:
        raise ValueError(f"unknown model variant {name!r}.{did_you_mean(name, models)} "
                         f"Known: {', '.join(sorted(models))}")
    return models[name]


def class_named(class_name: str) -> type:
    """The registered class whose `__name__` is `class_name` (how presets store it).

    Raises:
        ValueError: no registered class has that name.
    """
    for cls in _with_builtins().values():
        if cls.__name__ == class_name:
            return cls
    known = sorted(cls.__name__ for cls in _MODELS.values())
    raise ValueError(f"class {class_name!r} is not a registered zoo model.{did_you_mean(class_name, known)} "
                     f"Known: {', '.join(known)}. A model of your own must be registered with "
                     "@zoo.register_model(name) in a module imported before loading")


def variant_of(model_or_class) -> str:
    """The registered variant name of a model or class.

    Raises:
        ValueError: the class is not registered (a subclass of a registered class
            must be registered itself, so that loading gives back the same class).
    """
    cls = model_or_class if isinstance(model_or_class, type) else type(model_or_class)
    for name, registered in _with_builtins().items():
        if registered is cls:
            return name
    raise ValueError(f"{cls.__name__} is not a registered zoo model: decorate it with "
                     "@zoo.register_model(name) so that presets can load it back")

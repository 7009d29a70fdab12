"""Web export: a static folder that runs a model in the browser with LiteRT.js.

`export_web` writes a latent explorer that needs nothing but a static file server
(``python -m http.server -d DIR``): the page sources of the repository's ``web/``
folder (``index.html``, ``explorer.js``, ``style.css``), the model's ``encode``,
``decode`` and ``sample`` signatures as float32 ``.tflite`` files with a batch of
1 (LiteRT.js rejects a dynamic batch dimension), ``zoo_metadata.json`` and the
LiteRT.js runtime, copied from ``web/node_modules`` where ``npm ci`` installs the
version pinned by ``web/package-lock.json``. Nothing is fetched from elsewhere
when the page runs.

The page's test contract: on load it decodes z = 0 (label 0 for a conditional
model) and draws E[x|z]; after every draw ``#zoo-checksum`` holds the sum of the
image's pixels with 4 decimals and ``#zoo-pixels`` every pixel as JSON. Then
``?label=k`` and ``?z=v0,v1,...`` move the class picker and the sliders through
their input events, as a user would (values rounded to the sliders' 0.01 steps),
and once the last image is drawn ``<body>`` gets ``data-zoo-ready="true"``
(``data-zoo-error`` with the message when the page cannot run).
"""

from __future__ import annotations

import os
import shutil
import subprocess

from zoo import io
from zoo.export.litert import export_tflite
from zoo.export.metadata import METADATA_FILE, read_metadata
from zoo.export.signatures import ExportError, check_model, supported

WEB_SOURCES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "web")
PAGE_FILES = ("index.html", "explorer.js", "style.css")
RUNTIME_DIR = "litert"
# loadLiteRt without threads or JSPI loads one of these two builds (the first where
# the browser has relaxed SIMD); the threaded and JSPI builds are never requested.
RUNTIME_WASM = ("litert_wasm_internal", "litert_wasm_compat_internal")


def runtime_packages(web_dir: str = WEB_SOURCES) -> str:
    """The folder holding the pinned ``@litertjs`` packages, installed with ``npm ci`` if missing.

    Args:
        web_dir: the folder with ``package.json`` and ``package-lock.json``.
    Returns:
        ``<web_dir>/node_modules/@litertjs``.
    Raises:
        ExportError: `web_dir` is missing (the page sources ship with the repository,
            not the Python package) or npm is missing or fails.
    """
    if not os.path.isfile(os.path.join(web_dir, "package-lock.json")):
        raise ExportError(f"no page sources in {web_dir}: the web export needs the repository's web/ folder")
    packages = os.path.join(web_dir, "node_modules", "@litertjs")
    if not os.path.isfile(os.path.join(packages, "core", "package.json")):
        npm = shutil.which("npm")
        if npm is None:
            raise ExportError(f"the LiteRT.js runtime is not installed in {web_dir}/node_modules and npm is missing: "
                              "install Node.js with npm (Debian: apt-get install npm), then run `npm ci` there")
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=web_dir,
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise ExportError(f"`npm ci` in {web_dir} failed: {done.stderr.strip()[-2000:]}")
    return packages


def latent_order(card: dict, latent_dim: int) -> tuple[list[int], str]:
    """The latent dimensions by decreasing KL from the model card, else in index order.

    Args:
        card: export metadata; its ``metrics.latents.kl_per_dimension`` is used when
            it has one value per latent dimension.
        latent_dim: the number of latent dimensions.
    Returns:
        (dimension indices, "kl_per_dimension" or "index": what ordered them).
    """
    kl = (card.get("metrics") or {}).get("latents", {}).get("kl_per_dimension")
    if isinstance(kl, list) and len(kl) == latent_dim:
        return sorted(range(latent_dim), key=lambda i: -kl[i]), "kl_per_dimension"
    return list(range(latent_dim)), "index"


def export_web(model, out_dir: str, metadata: dict | None = None) -> dict:
    """Writes the browser latent explorer for `model` to `out_dir`, atomically.

    Args:
        model: a built zoo model; it needs the ``decode`` signature, and the page
            offers encoding and sampling when ``encode`` and ``sample`` are supported.
        out_dir: the folder to write (replaced if it exists).
        metadata: extra model-card entries, as for `export_saved_model`.
    Returns:
        The `export_tflite` report of the float32 batch-1 files (their errors
        against the SavedModel), also written to ``export_report.json``.
    Raises:
        ExportError: the model has no ``decode`` signature, or the runtime cannot be
            installed.
    """
    check_model(model)
    unsupported = supported(model)["unsupported"]
    if "decode" in unsupported:
        raise ExportError(f"the web explorer needs the 'decode' signature: {unsupported['decode']}")
    packages = runtime_packages()
    with io.atomic_dir(out_dir) as tmp:
        models = os.path.join(tmp, "model")
        report = export_tflite(model, models, "float32", metadata=metadata, static_batch=True)
        for name in os.listdir(models):
            os.replace(os.path.join(models, name), os.path.join(tmp, name))
        os.rmdir(models)

        card = read_metadata(tmp)
        order, ordered_by = latent_order(card, model.latent_dim)
        card["web"] = {"latent_order": order, "latent_order_by": ordered_by,
                       "files": {entry["signature"]: name for name, entry in report["files"].items()}}
        io.write_json(os.path.join(tmp, METADATA_FILE), card)

        for name in PAGE_FILES:
            shutil.copyfile(os.path.join(WEB_SOURCES, name), os.path.join(tmp, name))
        runtime = os.path.join(tmp, RUNTIME_DIR)
        shutil.copytree(os.path.join(packages, "core", "dist"), os.path.join(runtime, "core", "dist"))
        shutil.copytree(os.path.join(packages, "wasm-utils", "dist"), os.path.join(runtime, "wasm-utils", "dist"))
        os.makedirs(os.path.join(runtime, "core", "wasm"))
        for build in RUNTIME_WASM:
            for ext in (".js", ".wasm"):
                shutil.copyfile(os.path.join(packages, "core", "wasm", build + ext),
                                os.path.join(runtime, "core", "wasm", build + ext))
    return report

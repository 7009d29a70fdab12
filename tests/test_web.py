"""The web export: the page, run by headless Chromium, decodes what Python's LiteRT decodes.

Two shipped presets are exported once for the module (vae_mnist through the CLI,
the conditional cvae_mnist through `export_web`) and served from 127.0.0.1 by an
http.server thread; Chromium loads each page with ``--dump-dom`` and the test reads
the page's contract from the DOM: ``data-zoo-ready``, ``#zoo-checksum`` and every
pixel in ``#zoo-pixels``. The browser tests need Debian's ``chromium`` and Node.js
(npm installs the pinned LiteRT.js runtime); scripts/test.sh installs both.
"""

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import threading
from html.parser import HTMLParser

import numpy as np
import pytest

from zoo import export
from zoo.export import web

CHROMIUM = shutil.which("chromium")
MISSING = [name for name, path in (("chromium", CHROMIUM), ("node", shutil.which("node"))) if path is None]
needs_browser = pytest.mark.skipif(
    bool(MISSING), reason=f"the browser tests need {' and '.join(MISSING)} (bash scripts/test.sh installs them)")

MAX_ABS_ERROR = 1e-4  # float32 in the browser vs float32 in Python, same file


class _Contract(HTMLParser):
    """The `<body>` attributes and the text of the elements with the contract's ids."""

    IDS = ("zoo-checksum", "zoo-pixels", "zoo-message")

    def __init__(self, dom: str):
        super().__init__()
        self.body, self.text, self._open = {}, {}, None
        self.feed(dom)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "body":
            self.body = attrs
        if attrs.get("id") in self.IDS:
            self._open = attrs["id"]
            self.text[self._open] = ""

    def handle_endtag(self, tag):
        self._open = None

    def handle_data(self, data):
        if self._open:
            self.text[self._open] += data


BROWSER_ATTEMPTS = 3  # a loaded CI machine once dumped a page before its scripts had settled (stop 29)


def _open_page(url: str) -> _Contract:
    """The page's DOM once its scripts have settled (virtual time lets async work finish).

    A page settles with ``data-zoo-ready`` or ``data-zoo-error`` on ``<body>``. A dump with
    neither (the runtime's wasm still compiling when Chromium gave up waiting) is retried;
    a page that settles with an error is returned at once, and one that never settles fails.
    """
    for _ in range(BROWSER_ATTEMPTS):
        done = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=60000",
                               "--dump-dom", url], capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stderr[-2000:]
        page = _Contract(done.stdout)
        if {"data-zoo-ready", "data-zoo-error"} & set(page.body):
            return page
    raise AssertionError(f"the page at {url} did not settle in {BROWSER_ATTEMPTS} loads: <body> attributes "
                         f"{page.body}, #zoo-message {page.text.get('zoo-message')!r}, stderr {done.stderr[-1500:]!r}")


def _decoded(page: _Contract) -> np.ndarray:
    assert page.body.get("data-zoo-ready") == "true", (page.body, page.text.get("zoo-message"))
    return np.array(json.loads(page.text["zoo-pixels"]), np.float32)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """(base URL, root folder) with one exported page per preset, served from 127.0.0.1."""
    if "node" in MISSING:
        pytest.skip("the web export needs node and npm to install the LiteRT.js runtime")
    import zoo
    from zoo.cli import main

    root = tmp_path_factory.mktemp("web")
    assert main(["export", "vae_mnist", "--format", "web", "--out", str(root / "vae_mnist")]) == 0
    export.export_web(zoo.load("cvae_mnist"), str(root / "cvae_mnist"), {"name": "cvae_mnist"})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()


def _python_decode(folder, z, label=None) -> np.ndarray:
    inputs = {"z": z[None].astype(np.float32)}
    if label is not None:
        inputs["label"] = np.array([label], np.int32)
    return export.run_tflite(os.path.join(folder, "decode_float32.tflite"), **inputs)["mean"].ravel()


def test_the_folder_is_self_contained_with_batch_1_files(site):
    _, root = site
    folder = root / "cvae_mnist"
    names = set(os.listdir(folder))
    assert {"index.html", "explorer.js", "style.css", export.METADATA_FILE, "encode_float32.tflite",
            "decode_float32.tflite", "sample_float32.tflite"} <= names
    assert os.path.isfile(folder / "litert" / "core" / "dist" / "index.js")
    assert os.path.isfile(folder / "litert" / "wasm-utils" / "dist" / "index.js")
    for build in web.RUNTIME_WASM:
        assert os.path.isfile(folder / "litert" / "core" / "wasm" / f"{build}.wasm")
    meta = export.read_metadata(str(folder))
    for signature in ("encode", "decode", "sample"):
        for name, spec in meta["signatures"][signature]["inputs"].items():
            assert spec["shape"][0] == 1 and -1 not in spec["shape"], (signature, name, spec)
    report = json.loads((folder / export.REPORT_FILE).read_text())
    assert max(max(f["max_abs_error"].values()) for f in report["files"].values()) < MAX_ABS_ERROR
    # Nothing in the page points outside the folder.
    for page in ("index.html", "explorer.js"):
        assert "https://" not in (folder / page).read_text()


def test_sliders_follow_the_cards_kl_order(site):
    _, root = site
    meta = export.read_metadata(str(root / "vae_mnist"))
    kl = meta["metrics"]["latents"]["kl_per_dimension"]
    assert meta["web"]["latent_order_by"] == "kl_per_dimension"
    assert [kl[i] for i in meta["web"]["latent_order"]] == sorted(kl, reverse=True)
    assert web.latent_order({"metrics": {}}, 4) == ([0, 1, 2, 3], "index")
    assert web.latent_order({"metrics": {"latents": {"kl_per_dimension": [1.0, 2.0]}}}, 3)[1] == "index"


@needs_browser
@pytest.mark.parametrize("preset", ["vae_mnist", "cvae_mnist"])
def test_the_page_decodes_z_0_as_python_does(site, preset):
    base, root = site
    page = _open_page(f"{base}/{preset}/")
    pixels = _decoded(page)
    meta = export.read_metadata(str(root / preset))
    expected = _python_decode(root / preset, np.zeros(meta["latent_dim"]), 0 if meta["conditional"] else None)
    error = float(np.max(np.abs(pixels - expected)))
    print(f"{preset}: browser vs Python LiteRT at z = 0, max |error| {error:.3g}")
    assert pixels.shape == expected.shape and error <= MAX_ABS_ERROR
    # The checksum is the drawn image's pixel sum, with 4 decimals.
    assert re.fullmatch(r"\d+\.\d{4}", page.text["zoo-checksum"])
    assert float(page.text["zoo-checksum"]) == pytest.approx(float(pixels.sum(dtype=np.float64)), abs=1e-3)


@needs_browser
@pytest.mark.parametrize("preset", ["vae_mnist", "cvae_mnist"])
def test_moving_the_sliders_and_the_class_redraws_what_python_decodes(site, preset):
    base, root = site
    meta = export.read_metadata(str(root / preset))
    z = np.round(np.random.default_rng(1).normal(size=meta["latent_dim"]).clip(-3, 3), 2)
    label = 3 if meta["conditional"] else None
    query = "z=" + ",".join(f"{v:.2f}" for v in z) + (f"&label={label}" if label is not None else "")
    pixels = _decoded(_open_page(f"{base}/{preset}/?{query}"))
    expected = _python_decode(root / preset, z, label)
    error = float(np.max(np.abs(pixels - expected)))
    print(f"{preset}: browser vs Python LiteRT at a random z, max |error| {error:.3g}")
    assert error <= MAX_ABS_ERROR
    at_zero = _python_decode(root / preset, np.zeros_like(z), 0 if label is not None else None)
    assert np.max(np.abs(pixels - at_zero)) > 0.1  # the image really moved


@needs_browser
def test_the_page_explains_what_it_cannot_run(site):
    base, root = site
    page = _open_page(f"{base}/vae_mnist/?z=1,2")
    assert "?z= needs 32 comma-separated numbers" in page.body.get("data-zoo-error", "")
    assert "data-zoo-ready" not in page.body
    page = _open_page((root / "vae_mnist" / "index.html").as_uri())
    assert "must be served over HTTP" in page.text["zoo-message"]


def test_cli_rejects_web_options_that_do_not_apply(tmp_path, capsys):
    from zoo.cli import main

    for extra in (["--quantization", "int8"], ["--signatures", "decode"]):
        with pytest.raises(SystemExit) as exit_info:
            main(["export", "vae_mnist", "--format", "web", "--out", str(tmp_path / "w"), *extra])
        assert exit_info.value.code == 2
        assert "do not apply" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "w")

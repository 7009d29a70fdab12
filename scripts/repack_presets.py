"""Rewrites shipped presets' weights with `zoo.presets.compress_weights` (lossless) and
records the new sha256 and size in each model card; refuses if any array changes.

    python scripts/repack_presets.py            # every preset in saved_models/
    python scripts/repack_presets.py vamp_mnist
"""

from __future__ import annotations

import os
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def arrays(path):
    import h5py

    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, item: out.update({name: item[()]}) if isinstance(item, h5py.Dataset) else None)
    return out


def repack(name: str) -> tuple[int, int]:
    import numpy as np

    from zoo import io, presets

    directory = presets.resolve(name)
    card = presets.read_metadata(name)
    weights = os.path.join(directory, card["weights_file"])
    if io.sha256(weights) != card["weights_sha256"]:
        raise SystemExit(f"{name}: weights do not match their card's sha256; not repacking a corrupt file")
    before = os.path.getsize(weights)
    with io.atomic_path(weights, suffix=".weights.h5") as packed:
        shutil.copyfile(weights, packed)
        presets.compress_weights(packed)
        old, new = arrays(weights), arrays(packed)
        if old.keys() != new.keys() or any(not np.array_equal(old[k], new[k]) for k in old):
            raise SystemExit(f"{name}: repacked arrays differ from the originals")
        card.update(weights_sha256=io.sha256(packed), weights_bytes=os.path.getsize(packed))
    io.write_json(os.path.join(directory, presets.METADATA_FILE), card)
    return before, card["weights_bytes"]


def main(argv=None):
    from zoo import presets

    names = (argv if argv is not None else sys.argv[1:]) or presets.list_models()
    for name in names:
        before, after = repack(name)
        print(f"{name}: {before / 2**20:.2f} -> {after / 2**20:.2f} MiB")


if __name__ == "__main__":
    main()

"""Write the logits layout that `forsaken audit --logits DIR` reads (docs/logits.md) from
PyTorch models. Only numpy writes the files; torch is needed only to run your models.

Usage, from your own code:

    from logits_from_pytorch import write_logits
    write_logits("audit-in", x, y, original, unlearned, shadows, keep,
                 members, forget, non_members, retrained=None, seed=0)

then `forsaken audit --logits audit-in`.

x: a float tensor of every row that matters, [n, ...] as your models take it (already
   preprocessed): the target's members and non-members and the shadow models' own data.
y: int labels [n].  original, unlearned, retrained: torch.nn.Module.
shadows: a list of K modules; keep: bool array [K, n], keep[k, i] when shadow k trained on row i
   (shadows must not train on members or non-members: the audit's LiRA is offline).
members, forget, non_members: row indices (forget is a subset of members).
"""

import json
import os

import numpy as np


def logits_of(model, x, batch=1024):
    """The model's raw outputs (before softmax) on x, as float32 [n, C]."""
    import torch

    model.eval()
    with torch.no_grad():
        parts = [model(x[i : i + batch]).float().cpu().numpy() for i in range(0, len(x), batch)]
    return np.concatenate(parts).astype(np.float32)


def write_logits(out, x, y, original, unlearned, shadows, keep, members, forget, non_members,
                 retrained=None, seed=0):
    os.makedirs(out, exist_ok=True)
    save = lambda name, a: np.save(os.path.join(out, name + ".npy"), a)
    save("labels", np.asarray(y, dtype=np.int64))
    save("original", logits_of(original, x))
    save("unlearned", logits_of(unlearned, x))
    if retrained is not None:
        save("retrained", logits_of(retrained, x))
    save("members", np.asarray(members, dtype=np.int64))
    save("forget", np.asarray(forget, dtype=np.int64))
    save("non_members", np.asarray(non_members, dtype=np.int64))
    save("shadow_logits", np.stack([logits_of(s, x) for s in shadows]))
    save("shadow_keep", np.asarray(keep, dtype=bool))
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump({"seed": int(seed)}, f)

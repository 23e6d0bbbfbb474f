"""Generates seeded COCO gt/detection sets and records pycocotools' results as test fixtures.

Writes test/fixtures/coco/<name>.json = {generator, gt, detections, cases: [{options, stats, perCategory}]}
that test/eval/coco_eval_pycocotools.test.ts replays without Python.

    python3 -m venv /tmp/cocoenv && /tmp/cocoenv/bin/pip install pycocotools numpy
    /tmp/cocoenv/bin/python scripts/coco_fixtures.py
"""

import contextlib
import copy
import io
import json
import os
import random
from importlib.metadata import version

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

OUT_DIR = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "coco")

# Box side ranges (pixels) so every area range gets objects, including tiny ones.
SIZES = {"tiny": (2, 12), "small": (12, 31), "medium": (33, 95), "large": (97, 300)}


def rnd(x, nd=2):
    return round(float(x), nd)


def make_box(rng, img_w, img_h, size):
    lo, hi = SIZES[size]
    w = rng.uniform(lo, min(hi, img_w - 1))
    h = rng.uniform(lo, min(hi, img_h - 1))
    x = rng.uniform(0, img_w - w)
    y = rng.uniform(0, img_h - h)
    return [rnd(x), rnd(y), rnd(w), rnd(h)]


def jitter(rng, box, amount):
    x, y, w, h = box
    dx, dy = rng.gauss(0, amount * w), rng.gauss(0, amount * h)
    sw, sh = np.exp(rng.gauss(0, amount)), np.exp(rng.gauss(0, amount))
    return [rnd(x + dx), rnd(y + dy), rnd(max(0.5, w * sw)), rnd(max(0.5, h * sh))]


def generate(seed, n_images, n_cats, *, score_decimals, crowd_rate, many_dets_images, empty_cat, id_zero=False,
             jitters=(0.02, 0.08, 0.2), max_fp=12):
    rng = random.Random(seed)
    cats = [{"id": c + 1, "name": f"shape{c + 1}", "supercategory": "shape"} for c in range(n_cats)]
    gt_cats = [c["id"] for c in cats if c["id"] != empty_cat]
    images, anns, dets = [], [], []
    ann_id = 0 if id_zero else 1
    for i in range(n_images):
        # Non-contiguous, unsorted image ids so the sort by id matters.
        img_id = 1000 - 7 * i if i % 2 else 3 + 11 * i
        img_w, img_h = rng.choice([(320, 240), (640, 480), (500, 375)])
        images.append({"id": img_id, "width": img_w, "height": img_h, "file_name": f"{img_id}.png"})
        kind = rng.random()
        n_gt = 0 if kind < 0.12 else rng.randint(1, 7)
        img_gts = []
        for _ in range(n_gt):
            size = rng.choice(list(SIZES))
            box = make_box(rng, img_w, img_h, size)
            crowd = 1 if rng.random() < crowd_rate else 0
            area = box[2] * box[3]
            roll = rng.random()
            if roll < 0.3:
                area = rnd(area * rng.uniform(0.55, 0.95))  # a segmentation area, not w*h
            elif roll < 0.36:
                area = rng.choice([32 ** 2, 96 ** 2])  # exactly on a range boundary
            ann = {"id": ann_id, "image_id": img_id, "category_id": rng.choice(gt_cats), "bbox": box,
                   "area": area, "iscrowd": crowd}
            ann_id += 1
            anns.append(ann)
            img_gts.append(ann)
        if kind > 0.93:
            continue  # an image with ground truth and no detections at all
        for g in img_gts:
            # Hits with varying quality, sometimes duplicated, sometimes with the wrong class.
            for _ in range(rng.choice([0, 1, 1, 1, 2, 3])):
                cat = g["category_id"] if rng.random() < 0.85 else rng.choice([c["id"] for c in cats])
                dets.append({"image_id": img_id, "category_id": cat, "bbox": jitter(rng, g["bbox"], rng.choice(jitters)),
                             "score": rnd(rng.uniform(0.3, 1.0), score_decimals)})
        n_fp = rng.randint(150, 220) if i in many_dets_images else rng.randint(0, max_fp)
        for _ in range(n_fp):
            dets.append({"image_id": img_id, "category_id": rng.choice([c["id"] for c in cats]),
                         "bbox": make_box(rng, img_w, img_h, rng.choice(list(SIZES))),
                         "score": rnd(rng.random() ** 2, score_decimals)})
    rng.shuffle(dets)
    return {"images": images, "annotations": anns, "categories": cats}, dets


def run_pycocotools(gt, dets, options):
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = copy.deepcopy(gt)
        coco.createIndex()
        res = coco.loadRes(copy.deepcopy(dets))
        ev = COCOeval(coco, res, "bbox")
        if "imgIds" in options:
            ev.params.imgIds = options["imgIds"]
        if "catIds" in options:
            ev.params.catIds = options["catIds"]
        if "useCats" in options:
            ev.params.useCats = 1 if options["useCats"] else 0
        ev.evaluate()
        ev.accumulate()
    summary = io.StringIO()
    with contextlib.redirect_stdout(summary):
        ev.summarize()
    per_cat = []
    if ev.params.useCats:
        prec, rec = ev.eval["precision"], ev.eval["recall"]  # [T,R,K,A,M], [T,K,A,M]

        def mean_valid(s):
            s = s[s > -1]
            return -1.0 if len(s) == 0 else float(np.mean(s))

        for k, cat_id in enumerate(ev.params.catIds):
            per_cat.append({
                "categoryId": int(cat_id),
                "AP": mean_valid(prec[:, :, k, 0, -1]),
                "AP50": mean_valid(prec[0, :, k, 0, -1]),
                "AP75": mean_valid(prec[5, :, k, 0, -1]),
                "AR100": mean_valid(rec[:, k, 0, -1]),
            })
    return {"options": options, "stats": [float(s) for s in ev.stats], "perCategory": per_cat,
            "summary": summary.getvalue().rstrip("\n")}


def write(name, gt, dets, option_sets):
    cases = [run_pycocotools(gt, dets, o) for o in option_sets]
    doc = {"generator": f"scripts/coco_fixtures.py, pycocotools {version('pycocotools')}, numpy {np.__version__}",
           "gt": gt, "detections": dets, "cases": cases}
    path = os.path.join(OUT_DIR, f"{name}.json")
    with open(path, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
    print(f"{path}: {len(gt['images'])} images, {len(gt['annotations'])} gt, {len(dets)} dets, "
          f"{os.path.getsize(path)} bytes; AP per case: {[round(c['stats'][0], 4) for c in cases]}")


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    gt, dets = generate(1, 24, 4, score_decimals=3, crowd_rate=0.1, many_dets_images={3}, empty_cat=4)
    img_ids = sorted(im["id"] for im in gt["images"])
    write("mixed", gt, dets, [
        {},
        {"useCats": False},
        {"imgIds": img_ids[::3]},
        {"catIds": [1, 3]},
    ])
    gt, dets = generate(2, 16, 2, score_decimals=1, crowd_rate=0.2, many_dets_images={0, 5}, empty_cat=None)
    write("ties", gt, dets, [{}, {"useCats": False}])
    gt, dets = generate(3, 10, 3, score_decimals=2, crowd_rate=0.3, many_dets_images=set(), empty_cat=None, id_zero=True)
    write("crowd_id_zero", gt, dets, [{}])
    # A good detector, so the high end of the precision/recall curves is exercised too.
    gt, dets = generate(4, 30, 5, score_decimals=4, crowd_rate=0.05, many_dets_images={7}, empty_cat=5,
                        jitters=(0.01, 0.02, 0.04), max_fp=3)
    write("good", gt, dets, [{}, {"useCats": False}])


if __name__ == "__main__":
    main()

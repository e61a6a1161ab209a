"""Rank a gallery of person crops for each query with a trained hap_mm ReID
model; write ranked_<query>.png (query + top-k; green / red borders when
file names carry Market-1501 identities) and results.json to --out.

    python tools/infer/reid_search.py CONFIG CKPT --query IMG_OR_DIR \\
        --gallery DIR --topk 10 --out DIR

Gallery features are cached in DIR/gallery_features.npz, keyed by the
gallery's files (path, size, mtime), the checkpoint's SHA-256 and the
config; the next run with the same key reuses them.
"""
import argparse
import os.path as osp
from typing import Optional, Sequence

from hap_mm.apis import (
    encode_png,
    extract_features,
    file_sha256,
    gallery_key,
    init_model,
    list_images,
    rank_gallery,
    ranked_entries,
    ranked_picture,
    write_search_results,
)
from hap_mm.models.utils import CheckpointLoadError
from hap_mm.utils import HelpFormatter


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument('config', help='The ReID config.')
    parser.add_argument('checkpoint', help='A checkpoint of that config.')
    parser.add_argument(
        '--query', required=True, help='A query image or a folder of them.')
    parser.add_argument(
        '--gallery', required=True, help='The folder of gallery images.')
    parser.add_argument(
        '--topk', type=int, default=10,
        help='Gallery images to rank per query.')
    parser.add_argument('--out', required=True, help='Output folder.')
    parser.add_argument(
        '--batch-size', type=int, default=32, help='Images per forward.')
    parser.add_argument(
        '--device', default='cpu', help='Where the model runs (cpu, cuda).')
    parser.add_argument(
        '--chunk-size', type=int, default=4096,
        help='Gallery rows per top-k step (bounds the memory).')
    parser.add_argument(
        '--no-progress', action='store_true', help='No progress bars.')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    try:
        if not osp.isdir(args.gallery):
            raise FileNotFoundError(f'gallery folder {args.gallery} not '
                                    'found')
        gallery = list_images(args.gallery)
        queries = list_images(args.query)
        model = init_model(args.config, args.checkpoint, args.device)
        progress = not args.no_progress
        query_feats = extract_features(
            model, queries, args.batch_size, progress).numpy()
        key = gallery_key(gallery, file_sha256(args.checkpoint),
                          model.cfg.pretty_text)
        indices, sims, cached = rank_gallery(
            query_feats, gallery,
            lambda files: extract_features(
                model, files, args.batch_size, progress).numpy(),
            key, args.out, args.topk, args.chunk_size)
        results = []
        pictures = {}
        for query, idx, sim in zip(queries, indices, sims):
            stem = osp.splitext(osp.basename(query))[0]
            name = f'ranked_{stem}.png'
            if name in pictures:  # same name in two query folders
                name = f'ranked_{stem}_{len(pictures)}.png'
            pictures[name] = encode_png(
                ranked_picture(query, [gallery[i] for i in idx], sim))
            results.append(dict(query=query, picture=name,
                                ranked=ranked_entries(gallery, idx, sim)))
    except (OSError, ValueError, CheckpointLoadError) as e:
        raise SystemExit(f'error: {e}') from e
    report = dict(config=args.config, checkpoint=args.checkpoint,
                  gallery=args.gallery, topk=args.topk,
                  gallery_features_cached=cached, results=results)
    write_search_results(args.out, pictures, report)
    print(f'{len(queries)} queries, {len(gallery)} gallery images '
          f'(features {"from the cache" if cached else "computed"}); '
          f'wrote {len(pictures)} pictures and results.json to {args.out}')
    return report


if __name__ == '__main__':
    main()

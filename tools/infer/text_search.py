"""Find the people a sentence describes: rank a gallery of person images for
each caption with a trained hap_mm text ReID model (TextImageReID); write
ranked_text_<i>.png (the caption above its top-k images) and results.json
to --out.

    python tools/infer/text_search.py CONFIG CKPT \\
        --text "A woman in a red coat with a black bag." \\
        --gallery DIR --topk 10 --out DIR

Images and captions are ranked by the cosine similarity of their
embeddings, as TextImageRetrievalMetric ranks them. Gallery features are
cached in DIR/gallery_features.npz, keyed by the gallery's files (path,
size, mtime), the checkpoint's SHA-256 and the config; the next run with
the same key reuses them. BERT is read from the config's bert_path.
"""
import argparse
import os.path as osp
from typing import Optional, Sequence

from hap_mm.apis import (
    caption_picture,
    encode_png,
    extract_features,
    extract_text_features,
    file_sha256,
    gallery_key,
    init_model,
    list_images,
    rank_gallery,
    ranked_entries,
    write_search_results,
)
from hap_mm.models.utils import CheckpointLoadError
from hap_mm.utils import HelpFormatter


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument('config', help='The text ReID config.')
    parser.add_argument('checkpoint', help='A checkpoint of that config.')
    parser.add_argument(
        '--text', nargs='+', required=True,
        help='One or more captions (quote each).')
    parser.add_argument(
        '--gallery', required=True, help='The folder of gallery images.')
    parser.add_argument(
        '--topk', type=int, default=10,
        help='Gallery images to rank per caption.')
    parser.add_argument('--out', required=True, help='Output folder.')
    parser.add_argument(
        '--batch-size', type=int, default=32,
        help='Images or captions per forward.')
    parser.add_argument(
        '--device', default='cpu', help='Where the model runs (cpu, cuda).')
    parser.add_argument(
        '--chunk-size', type=int, default=4096,
        help='Gallery rows per top-k step (bounds the memory).')
    parser.add_argument(
        '--no-progress', action='store_true', help='No progress bar.')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    try:
        if not osp.isdir(args.gallery):
            raise FileNotFoundError(f'gallery folder {args.gallery} not '
                                    'found')
        gallery = list_images(args.gallery)
        model = init_model(args.config, args.checkpoint, args.device)
        text_feats = extract_text_features(model, args.text,
                                           args.batch_size).numpy()
        key = gallery_key(gallery, file_sha256(args.checkpoint),
                          model.cfg.pretty_text)
        indices, sims, cached = rank_gallery(
            text_feats, gallery,
            lambda files: extract_features(
                model, files, args.batch_size,
                not args.no_progress).numpy(),
            key, args.out, args.topk, args.chunk_size)
        results, pictures = [], {}
        for i, (text, idx, sim) in enumerate(zip(args.text, indices, sims)):
            name = f'ranked_text_{i + 1}.png'
            pictures[name] = encode_png(
                caption_picture(text, [gallery[j] for j in idx], sim))
            results.append(dict(text=text, picture=name,
                                ranked=ranked_entries(gallery, idx, sim)))
    except (OSError, ValueError, CheckpointLoadError) as e:
        raise SystemExit(f'error: {e}') from e
    report = dict(config=args.config, checkpoint=args.checkpoint,
                  gallery=args.gallery, topk=args.topk,
                  gallery_features_cached=cached, results=results)
    write_search_results(args.out, pictures, report)
    print(f'{len(args.text)} captions, {len(gallery)} gallery images '
          f'(features {"from the cache" if cached else "computed"}); '
          f'wrote {len(pictures)} pictures and results.json to {args.out}')
    return report


if __name__ == '__main__':
    main()

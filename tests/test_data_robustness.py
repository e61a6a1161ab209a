"""Bad files, odd names and killed tools on the data path (issue #22).

Corrupt release keypoint files, absurd image headers, JPEGs with trailing
bytes, symlink loops, non-UTF-8 file names, interrupted writes and killed
keypoint extractors: each is a counted, logged bad file or a no-op, never a
crash, a hang, a leftover or a silently wrong sample.
"""
import importlib.util
import os
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from hap_mm.datasets import LUPersonKeypointDataset
from hap_mm.datasets.image_io import decode_image, jpeg_truncated, scan_files

REPO = Path(__file__).resolve().parents[1]


def _load(rel: str, name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / rel)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ek = _load('tools/data/extract_keypoints.py', 'extract_keypoints')
prep = _load('tools/data/prepare_lup.py', 'prepare_lup')


def _rels(root: Path, pattern: str = '*.jpg') -> list:
    return sorted(p.relative_to(root) for p in root.rglob(pattern))


def _index_of(ds, rel) -> int:
    for i in range(len(ds)):
        if ds.get_data_info(i)['img_path'].endswith(str(rel)):
            return i
    raise AssertionError(f'{rel} not in the dataset')


def _python(code: str, timeout: int = 120) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter: a segfault fails the test with
    its return code instead of killing pytest."""
    return subprocess.run([sys.executable, '-c', code], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


# ---------------------------------------------------- release .npy files
def test_release_files_with_changed_bytes_are_refused_not_a_segfault(
        demo_root, tmp_path, corrupt_release_npy):
    """Header shape, pickled shape and payload must agree; np.load trusts
    the pickled shape of an object array and reads past its list."""
    src = demo_root / 'keypoints' / 'coco' / '000000000785_442619.npy'
    data = src.read_bytes()
    cases = {}
    for value in (0, 2, 9, 64, 200):
        path = tmp_path / f'shape_{value}.npy'
        path.write_bytes(data)
        corrupt_release_npy(path, value)
        cases[path.name] = path
    header = tmp_path / 'header.npy'  # header says (1, 2), data holds (1, 1)
    header.write_bytes(data.replace(b"'shape': (1, 1)", b"'shape': (1, 2)", 1))
    cut = tmp_path / 'cut.npy'
    cut.write_bytes(data[:-40])
    plain = tmp_path / 'plain.npy'  # a plain array whose header lies
    np.save(plain, np.ones((17, 3), np.float32))
    plain.write_bytes(plain.read_bytes().replace(b'(17, 3)', b'(17, 9)', 1))
    short = tmp_path / 'short.npy'
    np.save(short, np.ones((17, 3), np.float32))
    short.write_bytes(short.read_bytes()[:-4])
    for path in (header, cut, plain, short):
        cases[path.name] = path
    code = f'''
import sys, types
for name in ('hap_mm', 'hap_mm.datasets'):  # the parser alone, no hosts
    sys.modules[name] = types.ModuleType(name)
    sys.modules[name].__path__ = [name.replace('.', '/')]
from hap_mm.datasets.keypoint_io import keypoints_from_object, safe_load_npy
for path in {[str(p) for p in cases.values()]!r}:
    try:
        keypoints_from_object(safe_load_npy(open(path, 'rb').read()))
        print('LOADED', path)
    except Exception as e:
        print('REFUSED', path, type(e).__name__, e)
print('INTACT', keypoints_from_object(
    safe_load_npy(open({str(src)!r}, 'rb').read())).shape)
'''
    proc = _python(code)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    lines = proc.stdout.splitlines()
    for name, path in cases.items():
        [line] = [ln for ln in lines if f' {path} ' in ln + ' ']
        assert line.startswith('REFUSED'), line
    assert 'INTACT (17, 3)' in lines
    # what the messages say: the disagreement, not a bare failure
    text = proc.stdout
    assert 'holds 1 items, expected 64' in text
    assert "header says an object array of shape (1, 2)" in text
    assert 'header says shape (17, 9)' in text


def test_corrupt_release_file_is_a_logged_bad_file_in_loader_and_prepare(
        demo_copy, corrupt_release_npy, tool):
    rels = _rels(demo_copy / 'images')
    target = rels[3]
    kpt = demo_copy / 'keypoints' / target.with_suffix('.npy')
    corrupt_release_npy(kpt, 64)
    code = f'''
from hap_mm.datasets import LUPersonKeypointDataset
ds = LUPersonKeypointDataset({str(demo_copy)!r})
for i in range(len(ds)):
    if ds.get_data_info(i)['img_path'].endswith({str(target)!r}):
        print('ISSUES', ds[i]['data_issues'])
'''
    proc = _python(code)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    assert f"('keypoints', 'keypoints/{target.with_suffix('.npy')}', " \
        "'unreadable (ValueError: pickled object array" in proc.stdout
    # prepare_lup with a process pool: the file is a bad_keypoints line,
    # the pool does not hang and no temporary file is left; an image with
    # a non-UTF-8 name (and no keypoints) is logged, escaped
    with open(bytes(demo_copy / 'images' / 'coco') + b'/caf\xe9.jpg',
              'wb') as f:
        f.write((demo_copy / 'images' / rels[0]).read_bytes())
    proc = tool(['tools/data/prepare_lup.py', demo_copy, '--out',
                 'index.jsonl', '--log', 'problems.log', '--workers', '2'],
                timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    log = (demo_copy / 'problems.log').read_text(encoding='utf-8')
    assert f'bad_keypoints\t{target}\tValueError: pickled object array' in log
    assert 'missing_keypoints\tcoco/caf\\udce9.jpg\t' in log
    assert str(target) not in (demo_copy / 'index.jsonl').read_text()
    assert not [p for p in demo_copy.rglob('*') if 'tmp' in p.name]


def test_prepare_lup_fails_instead_of_hanging_when_a_checker_dies():
    """multiprocessing.Pool.imap waits for ever for the results of a worker
    that died (a decoder crash, the OOM killer): the run must stop with an
    error instead."""
    code = f'''
import importlib.util, os, signal
spec = importlib.util.spec_from_file_location(
    'prepare_lup', {str(REPO / 'tools/data/prepare_lup.py')!r})
prep = importlib.util.module_from_spec(spec)
spec.loader.exec_module(prep)

class Crashing:
    def __call__(self, rel):
        if rel == 'b.jpg':
            os.kill(os.getpid(), signal.SIGKILL)
        return rel, 'ok', '', None

try:
    list(prep.check_all(['a.jpg', 'b.jpg', 'c.jpg'], Crashing(), 2))
except Exception as e:
    print('RAISED', type(e).__name__, e)
'''
    try:
        proc = _python(code, timeout=90)
    except subprocess.TimeoutExpired:
        pytest.fail('check_all hung after a worker died')
    assert 'RAISED RuntimeError' in proc.stdout, proc.stdout + proc.stderr
    assert '--workers 0' in proc.stdout


# ---------------------------------------------------------------- images
def _png_claiming(width: int, height: int) -> bytes:
    """A real 8 x 8 PNG whose IHDR claims ``width`` x ``height`` (CRC
    fixed, so only the size is wrong)."""
    ok, enc = cv2.imencode('.png', np.full((8, 8, 3), 200, np.uint8))
    data = bytearray(enc.tobytes())
    assert data[12:16] == b'IHDR'
    data[16:24] = width.to_bytes(4, 'big') + height.to_bytes(4, 'big')
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, 'big')
    return bytes(data)


def test_any_decoder_exception_is_a_bad_image(demo_copy):
    huge = _png_claiming(100000, 100000)
    img, msg = decode_image(huge)
    assert img is None and msg.startswith('cannot decode'), msg
    rels = _rels(demo_copy / 'images')
    (demo_copy / 'images' / rels[0]).write_bytes(huge)
    ds = LUPersonKeypointDataset(str(demo_copy))
    sample = ds[_index_of(ds, rels[0])]  # replaced by another sample
    assert sample['img'].ndim == 3
    [(kind, path, why)] = [i for i in sample['data_issues'] if i[0] == 'image']
    assert path == f'images/{rels[0]}' and why.startswith('cannot decode')


def _jpeg(img: np.ndarray, *params) -> bytes:
    ok, enc = cv2.imencode('.jpg', img, list(params))
    assert ok
    return enc.tobytes()


def test_jpeg_with_trailing_bytes_is_complete_and_a_cut_one_is_not(
        demo_copy):
    rng = np.random.RandomState(0)
    img = cv2.imread(str(demo_copy / 'images' / _rels(demo_copy /
                                                       'images')[0]))
    variants = [
        _jpeg(img),
        _jpeg(img, cv2.IMWRITE_JPEG_PROGRESSIVE, 1),
        _jpeg(img, cv2.IMWRITE_JPEG_RST_INTERVAL, 2),
    ]
    for data in variants:
        assert data.endswith(b'\xff\xd9') and not jpeg_truncated(data)
        reference = cv2.imdecode(np.frombuffer(data, np.uint8), 1)
        # random bytes, and random pieces of JPEG data (which hold start-
        # of-scan markers without an end-of-image one after them)
        trailers = [rng.bytes(int(rng.randint(1, 300))) for _ in range(100)]
        for start in rng.randint(0, len(data) // 2, 100):
            trailers.append(data[start:start + int(rng.randint(2, 2000))])
        trailers += [b'\xff\xda\x00\x0c' + rng.bytes(40), b'\xff\xd8\xff',
                     data]
        for trailer in trailers:
            assert not jpeg_truncated(data + trailer), trailer[:16]
        decoded, msg = decode_image(data + trailers[-3])
        assert msg == '' and np.array_equal(decoded, reference)
        # every cut before the end-of-image marker is truncated
        for end in np.linspace(3, len(data) - 1, 60).astype(int):
            assert jpeg_truncated(data[:end]), end
    # through the dataset: a crop with a trailer is a normal sample
    rels = _rels(demo_copy / 'images')
    path = demo_copy / 'images' / rels[5]
    path.write_bytes(path.read_bytes() + b'\xff\xda' + rng.bytes(64))
    ds = LUPersonKeypointDataset(str(demo_copy), strict=True)
    assert ds[_index_of(ds, rels[5])]['data_issues'] == []


# ---------------------------------------------------------------- scans
def test_symlink_loop_and_second_link_add_no_samples(demo_copy):
    images = demo_copy / 'images'
    real = [str(r) for r in _rels(images)]
    (images / 'coco' / 'loop').symlink_to('..')  # images/coco/loop -> images
    (images / 'mirror').symlink_to('aic')  # a second name for aic/
    assert scan_files(str(images)) == sorted(real)
    assert ek.scan_images(str(images)) == sorted(real)
    assert prep.scan_images(str(images)) == sorted(real)
    ds = LUPersonKeypointDataset(str(demo_copy))
    assert len(ds) == len(real)


# ------------------------------------------------------ temporary files
def test_interrupted_writes_never_match_part_names_and_are_removed(
        tmp_path, demo_root, monkeypatch):
    out = tmp_path / 'out'
    part = out / 'index.jsonl.shard-0-of-2'
    # a run killed while its JSONL part is open
    killed = ek.AtomicTextFile(str(part))
    killed.write('{"img_path": "partial"}\n')
    killed.f.flush()
    # what data_preparation.md tells users to concatenate
    assert sorted(out.glob('index.jsonl.shard-*')) == []
    again = ek.AtomicTextFile(str(part))
    again.write('{"img_path": "a.jpg"}\n')
    again.commit()
    assert sorted(os.listdir(out)) == [part.name]
    # a run killed between writing an .npy and moving it into place
    rel = 'coco/000000000785_442619.jpg'
    target = Path(ek.output_path(str(out), rel))

    def killed_replace(src, dst):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(os, 'replace', killed_replace)
        with pytest.raises(KeyboardInterrupt):
            ek.save_keypoints(str(target), np.ones((17, 3), np.float32))
    assert not target.exists() and len(os.listdir(target.parent)) == 1
    assert list(target.parent.glob(target.name + '*')) == []
    # the next run that handles this image removes the leftover
    item = ek.CropDataset(str(demo_root / 'images'), [rel], str(out), False,
                          lambda img, path: img.shape)[0]
    assert 'inputs' in item
    assert os.listdir(target.parent) == []


# ----------------------------------------------------- killed extractor
def _alive(pid: int) -> bool:
    try:
        with open(f'/proc/{pid}/stat') as f:
            state = f.read().rsplit(')', 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ('Z', 'X')  # zombies hold no memory


@pytest.mark.parametrize('sig', [signal.SIGKILL, signal.SIGTERM])
def test_loader_workers_exit_when_the_extractor_is_killed(
        demo_root, tmp_path, sig):
    proc = subprocess.Popen(
        [sys.executable, 'tests/helpers/loader_parent.py',
         str(demo_root / 'images' / 'coco'), str(tmp_path / 'out')],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    workers = []
    try:
        line = proc.stdout.readline()
        assert line.startswith('WORKERS'), proc.stderr.read()[-2000:]
        workers = [int(p) for p in line.split()[1:]]
        assert len(workers) == 2 and all(map(_alive, workers))
        time.sleep(0.5)  # the workers fill their queues
        proc.send_signal(sig)
        proc.wait(timeout=30)
        # torch's own watchdog notices a dead parent within 5 s but then
        # waits for ever to flush its queued batches into the pipe
        deadline = time.time() + 15
        while any(map(_alive, workers)) and time.time() < deadline:
            time.sleep(0.1)
        survivors = [p for p in workers if _alive(p)]
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in workers:  # never leave them to the next test
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
    assert survivors == []


# ------------------------------------------------------ non-UTF-8 names
def test_bad_file_warning_with_a_non_utf8_name_reaches_the_log_file(
        tmp_path):
    """``os.listdir`` returns undecodable name bytes as surrogates; the
    UTF-8 log file handler refuses them, so the warning never reached
    the file ('--- Logging error ---' on stderr instead)."""
    from mmengine.logging import MMLogger
    from mmpretrain.structures import DataSample

    from hap_mm.engine import DataIssueLoggerHook
    log_file = tmp_path / 'run.log'
    logger = MMLogger.get_instance(
        f'non_utf8_{os.getpid()}', log_file=str(log_file))
    runner = type('Runner', (), dict(logger=logger, epoch=0))()
    issue = ('image', os.fsdecode(b'images/caf\xe9.jpg'), 'empty file')
    hook = DataIssueLoggerHook()
    hook.before_train_epoch(runner)
    hook.after_train_iter(
        runner, 0, dict(data_samples=[DataSample(
            metainfo=dict(data_issues=[issue]))]))
    hook.after_train_epoch(runner)
    text = log_file.read_text(encoding='utf-8')
    assert 'bad image file images/caf\\udce9.jpg: empty file' in text
    assert 'epoch 1: 1 unreadable images skipped' in text

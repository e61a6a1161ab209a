"""Every command shown in README.md and docs/ refers to things that exist,
every Python tool in them answers --help, and the documented commands chain:
the file one writes is the file the next one reads.

Commands that train are run for real elsewhere (tests/test_training.py,
tests/test_packaging.py, tests/test_host_config_snippets.py); here each
documented line is checked so that a renamed tool, option, config or output
file breaks the build.
"""
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from mmengine.config import Config

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / 'README.md'] + sorted((REPO / 'docs').glob('*.md'))
SKIP_PREFIXES = ('pip ', 'cd ', 'export ')


def _commands():
    """(doc, command) for each line of each ```bash block."""
    found = []
    for doc in DOCS:
        text = doc.read_text()
        for block in re.findall(r'```bash\n(.*?)```', text, re.S):
            joined = re.sub(r'\\\n\s*', ' ', block)
            for line in joined.splitlines():
                line = line.split('#')[0].strip()
                if line and not line.startswith(SKIP_PREFIXES):
                    found.append((doc.name, line))
    return found


COMMANDS = _commands()


def _words(command):
    words = shlex.split(command)
    while words and re.match(r'^[A-Z_]+=', words[0]):  # env assignments
        words = words[1:]
    return words


def test_docs_have_commands():
    assert len(COMMANDS) >= 20
    assert {doc for doc, _ in COMMANDS} >= {'README.md', 'pretrain.md'}


@pytest.mark.parametrize('doc, command', COMMANDS,
                         ids=[f'{d}:{c[:60]}' for d, c in COMMANDS])
def test_documented_command_is_real(doc, command):
    words = _words(command)
    prog, args = words[0], words[1:]
    paths = [a for a in args if re.match(r'^(configs|tools|data)/', a)]
    if prog in ('python', 'python3'):
        if args[0] == '-c':
            proc = subprocess.run([sys.executable, *args],
                                  cwd=REPO,
                                  capture_output=True,
                                  text=True)
            assert proc.returncode == 0, proc.stderr[-1500:]
            return
        tool = args[0]
        run = [sys.executable, '-m', args[1]] if tool == '-m' else [
            sys.executable, tool
        ]
        proc = subprocess.run(run + ['--help'],
                              cwd=REPO,
                              capture_output=True,
                              text=True,
                              timeout=120)
        assert proc.returncode == 0, (tool, proc.stderr[-1500:])
        for opt in re.findall(r'(?<=\s)--[a-z][a-z-]*', ' ' + ' '.join(args)):
            assert opt in proc.stdout, f'{tool} has no option {opt}'
        paths = [p for p in paths if p != tool]
    elif prog == 'make':
        proc = subprocess.run(['make', '-n', *args],
                              cwd=REPO,
                              capture_output=True,
                              text=True)
        assert proc.returncode == 0, proc.stderr
    elif prog.startswith('tools/') and prog.endswith('.sh'):
        assert (REPO / prog).is_file()
        proc = subprocess.run(['bash', prog],
                              cwd=REPO,
                              capture_output=True,
                              text=True)
        assert proc.returncode == 2 and 'usage' in proc.stderr
    elif prog == 'mim':
        assert args[0] in ('train', 'test', 'search', 'install', 'download')
    elif prog == 'wget':
        # downloads name their folder; the chain test checks the file name
        assert args[0] == '-P' and args[2].startswith('https://'), command
    else:
        pytest.fail(f'{doc}: no check for command {command!r}')
    for path in paths:
        if path.startswith('work_dirs') or '<' in path:
            continue
        produced = path.startswith(('work_dirs', 'checkpoints'))
        assert produced or (REPO / path).exists(), f'{doc}: {path} missing'


# ------------------------------------------------- written -> read chain
def _option(words, name):
    return words[words.index(name) + 1] if name in words else None


def _cfg_options(words) -> dict:
    if '--cfg-options' not in words:
        return {}
    out = {}
    for word in words[words.index('--cfg-options') + 1:]:
        if word.startswith('--'):
            break
        key, _, value = word.partition('=')
        out[key] = value
    return out


def _training_runs():
    """(config, work dir, --cfg-options) of every documented training."""
    runs = []
    for _, command in COMMANDS:
        words = _words(command)
        if words[0] == 'tools/dist_train.sh':
            config, work_dir = words[1], _option(words, '--work-dir')
        elif words[0] == 'tools/slurm_train.sh':
            config, work_dir = words[3], words[4]
        elif words[:2] == ['python', 'tools/train.py']:
            config, work_dir = words[2], _option(words, '--work-dir')
        elif words[:3] == ['mim', 'train', 'hap_mm']:
            config, work_dir = words[3], _option(words, '--work-dir')
        else:
            continue
        if not config.startswith('configs/'):
            continue  # a user's own config (my_config.py)
        work_dir = work_dir or f'work_dirs/{Path(config).stem}'
        runs.append((config, work_dir.rstrip('/'), _cfg_options(words)))
    return runs


_CONFIGS = {}


def _config(path: str) -> Config:
    if path not in _CONFIGS:
        _CONFIGS[path] = Config.fromfile(str(REPO / path))
    return _CONFIGS[path]


def _written_checkpoints(config: str, work_dir: str) -> set:
    """Checkpoint files a finished training of ``config`` leaves (the last,
    which CheckpointHook's save_last keeps, as a name; the best as a regex)
    and the training's length in its unit."""
    cfg = _config(config)
    train_cfg = cfg.train_cfg
    hook = cfg.default_hooks.checkpoint
    if 'max_iters' in train_cfg:
        last, unit, end = f'iter_{train_cfg.max_iters}.pth', 'iter', \
            train_cfg.max_iters
    else:
        last, unit, end = f'epoch_{train_cfg.max_epochs}.pth', 'epoch', \
            train_cfg.max_epochs
    written = {f'{work_dir}/{last}'}
    if hook.get('save_best'):
        metric = hook.save_best.replace('/', '_')
        written.add(re.compile(
            rf'{re.escape(work_dir)}/best_{re.escape(metric)}_{unit}_(\d+)\.pth'
        ))
    return written, end


def _is_written(path: str) -> bool:
    for config, work_dir, _ in _training_runs():
        written, end = _written_checkpoints(config, work_dir)
        for w in written:
            if w == path:
                return True
            if not isinstance(w, str):
                match = w.fullmatch(path)
                if match and int(match.group(1)) <= end:
                    return True
    return False


def _converter_outputs():
    """(SRC, DST) of every documented hap_to_backbone.py command."""
    pairs = []
    for _, command in COMMANDS:
        words = _words(command)
        if (words[:2] == ['python', 'tools/model_converters/hap_to_backbone.py']
                and words[3].endswith('.pth')):  # not the SRC DST synopsis
            pairs.append((words[2], words[3]))
    return pairs


def _downloads():
    out = []
    for _, command in COMMANDS:
        words = _words(command)
        if words[0] == 'wget':
            out.append(f"{words[2]}/{words[3].rsplit('/', 1)[1]}")
    return out


def _pretrained_checkpoints(cfg) -> list:
    """Every ``Pretrained`` init_cfg checkpoint in a config's model."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            if node.get('type') == 'Pretrained' and 'checkpoint' in node:
                found.append(node['checkpoint'])
            for value in node.values():
                walk(value)
        elif isinstance(node, (list, tuple)):
            for value in node:
                walk(value)

    walk(cfg.model.to_dict())
    return found


def test_every_documented_checkpoint_read_is_a_documented_training_output():
    reads = []
    for doc, command in COMMANDS:
        words = _words(command)
        reads += [(doc, w) for w in words if re.match(r'^work_dirs/.*\.pth$', w)]
    assert len(reads) >= 5
    for doc, path in reads:
        assert _is_written(path), (
            f'{doc}: {path} is read, but no documented training writes it')


def test_converted_checkpoints_are_the_ones_the_configs_read():
    """hap_to_backbone DST -> a downstream config's init_cfg; and every
    checkpoint a documented training starts from is written (converted or
    downloaded) by a documented command."""
    runs = _training_runs()
    read = set()
    for config, _, options in runs:
        override = options.get('model.backbone.init_cfg.checkpoint')
        read.update([override] if override else
                    _pretrained_checkpoints(_config(config)))
    pairs = _converter_outputs()
    assert pairs
    for src, dst in pairs:
        assert dst in read, f'{dst} is written by the converter; nothing reads it'
    written = {dst for _, dst in pairs} | set(_downloads())
    for path in read:
        assert path in written, f'{path} is read; no documented command writes it'
    # the pre-training output that gets converted is the one training writes
    for src, _ in pairs:
        if src.startswith('work_dirs/'):
            assert _is_written(src), src


def test_demo_leftovers_listed_in_get_started_are_the_kept_checkpoints():
    text = (REPO / 'docs' / 'get_started.md').read_text()
    block = text.split('## What the demo leaves behind')[1].split('```')[1]
    listed = {int(n) for n in re.findall(r'epoch_(\d+)\.pth', block)}
    cfg = _config('configs/hap/hap_demo.py')
    hook = cfg.default_hooks.checkpoint
    saved = list(range(hook.interval, cfg.train_cfg.max_epochs + 1,
                       hook.interval))
    assert listed == set(saved[-hook.max_keep_ckpts:])


def _anchors(doc: Path) -> set:
    """GitHub's anchors of a Markdown file's headings."""
    heads = re.findall(r'^#+ (.+)$', doc.read_text(), re.M)
    return {re.sub(r'[^\w\- ]', '', h.strip().lower()).replace(' ', '-')
            for h in heads}


def test_links_between_docs_reach_their_files_and_headings():
    checked = 0
    for doc in DOCS:
        for target in re.findall(r'\]\(([^)\s]+)\)', doc.read_text()):
            if target.startswith(('http://', 'https://', 'mailto:')):
                continue
            path, _, anchor = target.partition('#')
            dest = (doc.parent / path).resolve() if path else doc
            assert dest.exists(), f'{doc.name}: link to missing {target}'
            if anchor:
                assert anchor in _anchors(dest), f'{doc.name}: {target}'
                checked += 1
    assert checked >= 10

"""Every command shown in README.md and docs/ refers to things that exist,
and every Python tool in them answers --help.

Commands that train are run for real elsewhere (tests/test_training.py,
tests/test_packaging.py); here each documented line is checked so that a
renamed tool, option or config breaks the build.
"""
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

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
        assert args[0] in ('train', 'test', 'search', 'install')
    else:
        pytest.fail(f'{doc}: no check for command {command!r}')
    for path in paths:
        if path.startswith('work_dirs') or '<' in path:
            continue
        produced = path.startswith(('work_dirs', 'checkpoints'))
        assert produced or (REPO / path).exists(), f'{doc}: {path} missing'

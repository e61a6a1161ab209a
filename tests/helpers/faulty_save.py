"""``tools/train.py`` whose disk fails while it writes one checkpoint.

    python tests/helpers/faulty_save.py kill|enospc NAME TRAIN_ARGS...

mmengine writes a checkpoint with one ``LocalBackend.put`` of its bytes.
When the file being written is ``NAME`` (or hap_mm's temporary
``.NAME.tmp``), this writes the first half of the bytes and then either
``kill``s its own process with SIGKILL (what ``kill -9`` or the OOM killer
does) or raises ``OSError(ENOSPC)`` (a full disk). Every other write is
left alone.
"""
import errno
import os
import os.path as osp
import runpy
import signal
import sys

from mmengine.fileio.backends import LocalBackend

MODE, NAME = sys.argv[1], sys.argv[2]
assert MODE in ('kill', 'enospc'), MODE
_put = LocalBackend.put


def faulty_put(self, obj, filepath):
    if osp.basename(str(filepath)) not in (NAME, f'.{NAME}.tmp'):
        return _put(self, obj, filepath)
    with open(filepath, 'wb') as f:
        f.write(obj[:len(obj) // 2])
        f.flush()
        os.fsync(f.fileno())
    if MODE == 'kill':
        os.kill(os.getpid(), signal.SIGKILL)
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


LocalBackend.put = faulty_put
sys.argv = ['tools/train.py', *sys.argv[3:]]
runpy.run_path('tools/train.py', run_name='__main__')

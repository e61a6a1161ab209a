"""Make ``mim train hap_mm ...`` work with an editable (``pip install -e .``)
install.

mim 0.3.9 looks for ``<site-packages>/hap_mm/.mim/tools/train.py``. Modern
editable installs (PEP 660) put only an import hook in site-packages, so mim
finds nothing. This links ``<site-packages>/hap_mm`` to this checkout's
``hap_mm/`` package (imports resolve to the same files) and creates the
``.mim`` links to ``configs/`` and ``tools/``. Run it with the environment's
python after ``pip install -e .``:

    python tools/misc/link_editable_for_mim.py
"""
import os
import os.path as osp
import shutil
import sysconfig

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def main() -> None:
    pkg = osp.join(ROOT, 'hap_mm')
    mim = osp.join(pkg, '.mim')
    os.makedirs(mim, exist_ok=True)
    for name in ('configs', 'tools', 'data', 'model-index.yml'):
        src, dst = osp.join(ROOT, name), osp.join(mim, name)
        if not osp.exists(src) or osp.islink(dst):
            continue
        if osp.isdir(dst):  # a copy left by a non-editable build
            shutil.rmtree(dst)
        elif osp.exists(dst):
            os.remove(dst)
        os.symlink(osp.relpath(src, mim), dst)
    link = osp.join(sysconfig.get_paths()['purelib'], 'hap_mm')
    if osp.islink(link):
        os.remove(link)
    elif osp.exists(link):
        raise SystemExit(f'{link} exists and is not a link: hap_mm is '
                         'installed non-editable there, nothing to do')
    os.symlink(pkg, link)
    print(f'linked {link} -> {pkg}')


if __name__ == '__main__':
    main()

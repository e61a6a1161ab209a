"""hap_mm: HAP (structure-aware masked image modeling) for OpenMMLab."""
import glob
import os
import os.path as osp
import shutil
import sys
import warnings

from setuptools import find_packages, setup

ROOT = osp.dirname(osp.abspath(__file__))


def readme():
    with open(osp.join(ROOT, 'README.md'), encoding='utf-8') as f:
        return f.read()


def get_version():
    scope = {}
    with open(osp.join(ROOT, 'hap_mm', 'version.py'), encoding='utf-8') as f:
        exec(compile(f.read(), 'version.py', 'exec'), scope)
    return scope['__version__']


def parse_requirements(fname):
    """Requirement lines of ``requirements/<fname>``, comments dropped."""
    path = osp.join(ROOT, 'requirements', fname)
    reqs = []
    with open(path, encoding='utf-8') as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if line and not line.startswith('-'):
                reqs.append(line)
    return reqs


# What a non-editable install ships of data/: the demo crops and nothing
# else (not a linked LUPerson, not files tools wrote next to them).
DEMO_DATA = ('data/demo/ATTRIBUTION.md', 'data/demo/images/*/*.jpg',
             'data/demo/keypoints/*/*.npy')


def _inside_repo(path):
    real = osp.realpath(path)
    return real == ROOT or real.startswith(ROOT + os.sep)


def _copy_tree(src, dst):
    """Copy ``src`` to ``dst``: regular files and folders, links only when
    they stay inside the repository (``__pycache__`` and ``*.pyc`` left
    out)."""
    skipped = []

    def ignore(folder, names):
        out = set(shutil.ignore_patterns('__pycache__', '*.pyc')(folder,
                                                                  names))
        for name in names:
            path = osp.join(folder, name)
            if osp.islink(path) and not _inside_repo(path):
                out.add(name)
                skipped.append(path)
        return out

    shutil.copytree(src, dst, ignore=ignore)
    for path in skipped:
        warnings.warn(f'not packaged: {path} links out of the repository')


def _copy_demo_data(mim_path):
    for pattern in DEMO_DATA:
        for src in sorted(glob.glob(osp.join(ROOT, pattern))):
            if osp.islink(src) or not osp.isfile(src) or not _inside_repo(
                    src):
                continue
            dst = osp.join(mim_path, osp.relpath(src, ROOT))
            os.makedirs(osp.dirname(dst), exist_ok=True)
            shutil.copyfile(src, dst)


def add_mim_extension():
    """Ship configs/tools inside the package (``hap_mm/.mim``) for ``mim``.

    Editable installs (``develop`` / PEP 660) get symlinks so that edits show
    up; regular installs and wheels get copies, as in mmpretrain's setup.py,
    with only the demo data of ``data/`` (:data:`DEMO_DATA`) and no link
    that leaves the repository.
    """
    if 'develop' in sys.argv or 'editable_wheel' in sys.argv:
        mode = 'symlink'
    elif any(cmd in sys.argv for cmd in ('sdist', 'bdist_wheel', 'install', 'build')):
        mode = 'copy'
    else:
        return
    mim_path = osp.join(ROOT, 'hap_mm', '.mim')
    os.makedirs(mim_path, exist_ok=True)
    if mode == 'copy':
        # setuptools' build/ keeps files of earlier builds; start afresh
        for old in glob.glob(osp.join(ROOT, 'build', 'lib*', 'hap_mm', '.mim')):
            shutil.rmtree(old)
    for name in ('configs', 'tools', 'data', 'model-index.yml'):
        src = osp.join(ROOT, name)
        dst = osp.join(mim_path, name)
        if not osp.exists(src):
            continue
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if mode == 'symlink':
            try:
                os.symlink(osp.relpath(src, mim_path), dst)
                continue
            except OSError:
                warnings.warn(f'symlink {dst} failed; copying instead')
        if name == 'data':
            _copy_demo_data(mim_path)
        elif osp.isdir(src):
            _copy_tree(src, dst)
        else:
            shutil.copyfile(src, dst)


if __name__ == '__main__':
    add_mim_extension()
    setup(
        name='hap_mm',
        version=get_version(),
        description='HAP: structure-aware masked image modeling for '
        'human-centric perception, as an OpenMMLab plugin',
        long_description=readme(),
        long_description_content_type='text/markdown',
        keywords='computer vision, self-supervised learning, human-centric',
        packages=find_packages(exclude=('configs', 'tools', 'tests', 'docs')),
        include_package_data=True,
        package_data={'hap_mm': ['.mim/**/*', '.mim/*']},
        python_requires='>=3.8',
        license='Apache License 2.0',
        install_requires=parse_requirements('runtime.txt'),
        extras_require={
            'all': parse_requirements('optional.txt'),
            'optional': parse_requirements('optional.txt'),
            'tests': parse_requirements('tests.txt'),
            'build': parse_requirements('build.txt'),
            # CPU keypoint extraction (tools/data/extract_keypoints.py)
            'mediapipe': [
                r for r in parse_requirements('optional.txt')
                if r.startswith(('mediapipe', 'opencv-contrib-python'))
            ],
            # BERT text encoder of text-to-image person retrieval
            'text_reid': [
                r for r in parse_requirements('optional.txt')
                if r.startswith('transformers')
            ],
            # ONNX export (tools/deployment/export_onnx.py)
            'onnx': [
                r for r in parse_requirements('optional.txt')
                if r.startswith('onnx')
            ],
            # 3-D human mesh recovery (SMPL body model layer)
            'mesh': [
                r for r in parse_requirements('optional.txt')
                if r.startswith('smplx')
            ],
        },
        zip_safe=False,
    )

"""Fixtures of the image tests (tests/image, docs/firmware.md "Booting under
qemu and the image tests"):

  image_built   session: {board: path} of the images `make image BOARD=...`
                built (once per board per session; into $SBC_BUILD, default
                build/). SBC_IMAGE_<BOARD>=PATH (e.g. SBC_IMAGE_x86_64) uses
                an image built elsewhere instead.
  image_board   module, parametrized over board/*/board.conf: the board name.
  image_box     module: a qemubox.Box of that board's image: a copy of the
                image with sbc.shell=hvc0 added to its loader entry, booted
                under tools/qemu-run between the namespaces pub (WAN side)
                and priv (LAN side); qemu, taps and namespaces are removed
                after the module's tests of that board, whatever happened.
                The serial log and the time of each step go to
                build/test-artefacts/image/.
"""
import os
import shutil
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import qemubox  # noqa: E402
import netns    # noqa: E402  (tests/integration, put on sys.path by qemubox)

BOARDS = qemubox.boards()
BUILD = os.environ.get("SBC_BUILD") or os.path.join(qemubox.REPO, "build")
MAKE_TIMEOUT = 1800


def timelog_path():
    os.makedirs(qemubox.ARTEFACTS, exist_ok=True)
    return os.path.join(qemubox.ARTEFACTS, "times.log")


def _require_root():
    ok, why = netns.netns_available()
    if ok:
        return
    if os.environ.get("CI") == "true" or os.environ.get("SBC_REQUIRE_NETNS") == "1":
        pytest.fail("the image tests cannot run here: %s" % why, pytrace=False)
    pytest.skip("the image tests cannot run here: %s" % why)


class _Images:
    def __init__(self):
        self.paths = {}
        self.errors = {}

    def get(self, board):
        """The image of board, built on first use."""
        if board in self.errors:
            pytest.fail(self.errors[board], pytrace=False)
        if board in self.paths:
            return self.paths[board]
        given = os.environ.get("SBC_IMAGE_%s" % board)
        if given:
            self.paths[board] = given
            return given
        t0 = time.monotonic()
        log = os.path.join(qemubox.ARTEFACTS, "%s-make-image.log" % board)
        os.makedirs(qemubox.ARTEFACTS, exist_ok=True)
        with open(log, "wb") as out:
            try:
                r = subprocess.run(["make", "--no-print-directory", "-C", qemubox.REPO, "image",
                                    "BOARD=" + board, "BUILD=" + BUILD],
                                   stdout=out, stderr=subprocess.STDOUT, timeout=MAKE_TIMEOUT)
                rc = r.returncode
            except subprocess.TimeoutExpired:
                rc = "timeout (%d s)" % MAKE_TIMEOUT
        path = os.path.join(BUILD, "image", board, "sbc-%s.img" % board)
        with open(timelog_path(), "a") as f:
            f.write("%s %7.1f s  make image (exit %s)\n" % (board, time.monotonic() - t0, rc))
        if rc != 0 or not os.path.isfile(path):
            self.errors[board] = ("make image BOARD=%s failed (exit %s, %s): its output is "
                                  "in %s:\n%s" % (board, rc, path, log, netns.log_tail(log, 20)))
            pytest.fail(self.errors[board], pytrace=False)
        self.paths[board] = path
        return path


@pytest.fixture(scope="session")
def image_built():
    return _Images()


@pytest.fixture(scope="module", params=BOARDS)
def image_board(request):
    return request.param


@pytest.fixture(scope="module")
def image_box(image_built, image_board, tmp_path_factory):
    _require_root()
    src = image_built.get(image_board)
    d = tmp_path_factory.mktemp("image-%s" % image_board)
    copy = str(d / os.path.basename(src))
    shutil.copyfile(src, copy)
    qemubox.add_kernel_option(copy, tmpdir=str(d))
    box = qemubox.Box(image_board, copy, d / "box", timelog=timelog_path())
    box.start()
    try:
        box.wait_ready()
        yield box
    finally:
        box.step("done")
        box.close()
        os.unlink(copy)

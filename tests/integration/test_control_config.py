"""The configuration on the control socket (docs/control.md): config.get,
config.validate and config.apply against a running sbcd.

The running file is the sbc_config fixture's; config.apply rewrites it
(keeping a .bak) and reloads as SIGHUP does.
"""
import glob
import os

import ctlclient


def ctl(net, cmd, args=None):
    return ctlclient.call(os.path.join(net.rundir, "sbcd.sock"), cmd, args)


def read(path):
    with open(path) as f:
        return f.read()


def no_check_files(config_path, net):
    """No private file of a check is left next to the config or in data_dir."""
    left = glob.glob(config_path + ".check.*") + \
        glob.glob(os.path.join(net.tmpdir, "data", "config.check.*"))
    assert left == [], left


def test_get_and_validate(testnet, sbc_config, sbcd):
    """config.get gives the path and text; the same text is valid; an
    unknown key is invalid with an error that names it and the running
    file, not the temporary one, which is removed."""
    got = ctl(testnet, "config.get")
    assert got.get("ok") is True, got
    assert got["result"] == {"path": sbc_config, "text": read(sbc_config)}

    ok = ctl(testnet, "config.validate", {"text": got["result"]["text"]})
    assert ok.get("ok") is True, ok
    assert ok["result"]["valid"] is True and ok["result"]["errors"] == [], ok

    bad_text = got["result"]["text"].replace("[core]\n", "[core]\ncolour = red\n", 1)
    assert bad_text != got["result"]["text"]
    bad = ctl(testnet, "config.validate", {"text": bad_text})
    assert bad.get("ok") is True, bad
    res = bad["result"]
    assert res["valid"] is False and res["errors"], res
    assert any("colour" in e for e in res["errors"]), res
    assert all(".check." not in e for e in res["errors"]), res
    assert any(e.startswith(sbc_config + ":") for e in res["errors"]), res
    no_check_files(sbc_config, testnet)


def test_apply_invalid_refused(testnet, sbc_config, sbcd):
    """An invalid text is refused with its first error; the file is unchanged, no .bak."""
    before = read(sbc_config)
    resp = ctl(testnet, "config.apply", {"text": before + "\n[core]\ncolour = red\n"})
    assert resp.get("ok") is False, resp
    assert "invalid configuration" in resp["error"] and ".check." not in resp["error"], resp
    assert read(sbc_config) == before
    assert not os.path.exists(sbc_config + ".bak")
    no_check_files(sbc_config, testnet)


def test_apply_valid_reloads(testnet, sbc_config, sbcd):
    """A valid change is written (old text in .bak), reloaded as by SIGHUP,
    and config.get then returns it."""
    before = read(sbc_config)
    assert "rate_options" not in before
    new = before.replace("[guard]\n", "[guard]\nrate_options = 37\n", 1)
    assert new != before
    resp = ctl(testnet, "config.apply", {"text": new})
    assert resp.get("ok") is True, resp
    assert resp["result"] == {"applied": True}, resp
    assert read(sbc_config) == new
    assert read(sbc_config + ".bak") == before
    testnet.wait_log("configuration reloaded", timeout=5)
    again = ctl(testnet, "config.get")
    assert again.get("ok") is True and again["result"]["text"] == new, again
    # the daemon still answers after the reload
    assert ctl(testnet, "status").get("ok") is True
    no_check_files(sbc_config, testnet)


def test_bad_arguments(testnet, sbc_config, sbcd):
    """Missing, mistyped and unknown arguments are refused with a message."""
    text = read(sbc_config)
    cases = [
        ("config.get", {"x": 1}, "unknown argument"),
        ("config.validate", {}, "missing argument"),
        ("config.validate", {"text": 5}, "must be a string"),
        ("config.validate", {"text": text, "dry": True}, "unknown argument"),
        ("config.apply", {}, "missing argument"),
        ("config.apply", {"text": None}, "must be a string"),
        ("config.apply", {"txt": text}, "unknown argument"),
    ]
    for cmd, args, msg in cases:
        resp = ctl(testnet, cmd, args)
        assert resp.get("ok") is False and msg in resp.get("error", ""), (cmd, args, resp)
    assert read(sbc_config) == text


def test_oversized_text_refused(testnet, sbc_config, sbcd):
    """A text beyond what one request line may carry (64 KiB) never reaches
    the command: the connection is refused and the file is unchanged. (The
    command's own CONFIG_FILE_MAX check, 256 KiB, lies beyond that line limit.)"""
    before = read(sbc_config)
    big = before + "\n; " + "x" * (70 * 1024) + "\n"
    try:
        resp = ctl(testnet, "config.apply", {"text": big})
    except ctlclient.CtlClosed:
        resp = {"ok": False, "error": "closed"}
    assert resp.get("ok") is False, resp
    assert read(sbc_config) == before
    assert not os.path.exists(sbc_config + ".bak")
    assert ctl(testnet, "status").get("ok") is True

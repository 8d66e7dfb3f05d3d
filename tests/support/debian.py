"""Debian packages some tests need (chromium, nginx): installed with apt-get when missing (as root, or
through sudo), as a new user's machine would install them."""

import os
import shutil
import subprocess


def apt_install(package: str) -> str | None:
    """Install a Debian package; None when done, else why not."""
    if shutil.which("apt-get") is None:
        return f"no apt-get to install {package} with"
    prefix = [] if os.geteuid() == 0 else (["sudo", "-n"] if shutil.which("sudo") else None)
    if prefix is None:
        return f"not root and no sudo to install {package} with"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [*prefix, "apt-get", "install", "-y", "-q", package]
    done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:  # an old package index: refresh it once
        subprocess.run([*prefix, "apt-get", "update", "-q"], env=env, capture_output=True, timeout=600)
        done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=900)
    return None if done.returncode == 0 else f"apt-get failed: {done.stderr[-500:]}"

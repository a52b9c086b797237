#!/usr/bin/env python3
"""Writes a directory as a one-layer OCI image archive (an OCI layout in a tar), the format
`ctr images import`, `podman load` and `docker load` (25+) read. No daemon, no registry.

  oci-image.py --rootfs DIR --ref NAME:TAG --entrypoint /bin/x [--cmd ARG]... \
      [--user 65532:65532] [--env K=V]... [--workdir /] --out image.tar

The layer is reproducible: entries sorted, owner root (uid 0) unless the rootfs says otherwise,
mtime 0, gzip without a timestamp.
"""
import argparse, gzip, hashlib, io, json, os, sys, tarfile


def layer_tar(rootfs):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for dirpath, dirnames, filenames in os.walk(rootfs):
            dirnames.sort()
            for name in sorted(dirnames) + sorted(filenames):
                path = os.path.join(dirpath, name)
                info = tar.gettarinfo(path, arcname=os.path.relpath(path, rootfs))
                info.mtime = 0
                info.uname = info.gname = ""
                if info.isreg():
                    with open(path, "rb") as f:
                        tar.addfile(info, f)
                else:
                    tar.addfile(info)
    return buf.getvalue()


def blob(tar, data):
    digest = hashlib.sha256(data).hexdigest()
    info = tarfile.TarInfo("blobs/sha256/" + digest)
    info.size, info.mode = len(data), 0o644
    tar.addfile(info, io.BytesIO(data))
    return "sha256:" + digest


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rootfs", required=True)
    p.add_argument("--ref", required=True)
    p.add_argument("--entrypoint", required=True)
    p.add_argument("--cmd", action="append", default=[])
    p.add_argument("--user", default="65532:65532")
    p.add_argument("--env", action="append", default=[])
    p.add_argument("--workdir", default="/")
    p.add_argument("--out", required=True)
    a = p.parse_args()
    if not os.path.isdir(a.rootfs):
        sys.exit(f"oci-image: {a.rootfs}: not a directory")
    raw = layer_tar(a.rootfs)
    gz = gzip.compress(raw, mtime=0)
    diff_id = "sha256:" + hashlib.sha256(raw).hexdigest()
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "User": a.user,
            "Entrypoint": [a.entrypoint],
            "Cmd": a.cmd or None,
            "Env": ["PATH=/usr/local/bin:/usr/bin:/bin"] + a.env,
            "WorkingDir": a.workdir,
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }
    config["config"] = {k: v for k, v in config["config"].items() if v is not None}
    tmp = a.out + ".tmp"
    with tarfile.open(tmp, "w") as tar:
        layout = json.dumps({"imageLayoutVersion": "1.0.0"}).encode()
        info = tarfile.TarInfo("oci-layout")
        info.size = len(layout)
        tar.addfile(info, io.BytesIO(layout))
        cfg = json.dumps(config, sort_keys=True).encode()
        layer_digest = blob(tar, gz)
        cfg_digest = blob(tar, cfg)
        manifest = json.dumps({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": cfg_digest, "size": len(cfg)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                        "digest": layer_digest, "size": len(gz)}],
        }, sort_keys=True).encode()
        man_digest = blob(tar, manifest)
        tag = a.ref.rsplit(":", 1)[1] if ":" in a.ref.rsplit("/", 1)[-1] else "latest"
        index = json.dumps({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": man_digest, "size": len(manifest),
            "annotations": {"io.containerd.image.name": a.ref,
                            "org.opencontainers.image.ref.name": tag}}]}).encode()
        info = tarfile.TarInfo("index.json")
        info.size = len(index)
        tar.addfile(info, io.BytesIO(index))
    os.replace(tmp, a.out)
    print(f"{a.out}: {a.ref}, layer {len(gz) / 1048576:.1f} MiB compressed", file=sys.stderr)


if __name__ == "__main__":
    main()

"""`ray start` that keeps a loopback address loopback, for a multi-node Ray cluster on one machine.

Ray 2.60 replaces 127.0.0.1 by the machine's outward address wherever it is given
(`ray._private.services.resolve_ip_for_localhost`), unless RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0,
which in turn refuses to start a second node. This wrapper keeps 127.0.0.1 as given in this
process and sets that variable for the processes it starts (raylet, GCS, workers), so that every
server of the node listens on 127.0.0.1 only.

    python -m cluster.ray_node start --head --node-ip-address 127.0.0.1 --port 6390 ...
"""

from __future__ import annotations

import os
import sys

import ray._private.services as services  # reads RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER at import


def main() -> int:
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # for the processes started below
    services.resolve_ip_for_localhost = lambda host: host
    from ray.scripts.scripts import main as ray_main

    sys.argv = ["ray", *sys.argv[1:]]
    return ray_main()


if __name__ == "__main__":
    sys.exit(main())

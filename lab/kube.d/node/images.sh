# Names of the lab's locally built images; sourced.
# shellcheck shell=bash
# shellcheck disable=SC2034  # used by the files that source this one
# The lab's default job image (examples/config/lab*.yaml). Tag 2: the login node's Debian release
# (the batch chroot's), so an interpreter found at a path on the login node is at that path in jobs.
LAB_IMAGE="localhost/batch-bridge/lab-runtime:2"
PAUSE_IMAGE="localhost/batch-bridge/pause:lab"      # containerd's sandbox_image

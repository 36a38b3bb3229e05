# Names of the lab's locally built images; sourced.
# shellcheck shell=bash
# shellcheck disable=SC2034  # used by the files that source this one
LAB_IMAGE="localhost/batch-bridge/lab-runtime:1"   # the lab's default image (examples/config/lab.yaml)
PAUSE_IMAGE="localhost/batch-bridge/pause:lab"      # containerd's sandbox_image

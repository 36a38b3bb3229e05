"""Every label and annotation key batch-bridge writes or reads. Nowhere else spells them."""

from __future__ import annotations

from typing import Final

PREFIX: Final = "batch-bridge.io"

# Labels: batch identity, used by selectors and watches.
LABEL_MANAGED_BY: Final = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE: Final = "batch-bridge"
LABEL_SOURCE: Final = f"{PREFIX}/source"
LABEL_CLUSTER: Final = f"{PREFIX}/cluster"
LABEL_JOB_ID: Final = f"{PREFIX}/job-id"
LABEL_ARRAY_TASK: Final = f"{PREFIX}/array-task"
LABEL_USER: Final = f"{PREFIX}/user"
LABEL_ACCOUNT: Final = f"{PREFIX}/account"
LABEL_QUEUE: Final = f"{PREFIX}/queue"
LABEL_KUEUE_QUEUE: Final = "kueue.x-k8s.io/queue-name"

# Annotations: free text that does not fit label syntax.
ANN_JOB_NAME: Final = f"{PREFIX}/job-name"
ANN_SOURCE_ID: Final = f"{PREFIX}/source-id"
ANN_SUBMIT_DIR: Final = f"{PREFIX}/submit-dir"
ANN_ARRAY_INDEXES: Final = f"{PREFIX}/array-indexes"
ANN_DEPENDENCIES: Final = f"{PREFIX}/dependencies"
ANN_BEGIN_TIME: Final = f"{PREFIX}/begin-time"
ANN_COMMENT: Final = f"{PREFIX}/comment"
ANN_WARNINGS: Final = f"{PREFIX}/warnings"
ANN_REQUEUE: Final = f"{PREFIX}/requeue"
ANN_ARRAY_JOB_ID: Final = f"{PREFIX}/array-job-id"

# The job's files (entrypoint, script, passwd...): pod-template annotations under this prefix, read
# through a downwardAPI volume; a ConfigMap (same keys) only when they would not fit in annotations.
FILE_PREFIX: Final = f"file.{PREFIX}/"
KEY_PASSWD: Final = "passwd"
KEY_GROUP: Final = "group"

# Files mounted read-only into the pod.
CONFIG_MOUNT: Final = "/batch-bridge"
SCRATCH_MOUNT: Final = "/scratch"  # per-job emptyDir
KEY_ENTRYPOINT: Final = "entrypoint.sh"
KEY_SCRIPT: Final = "script"
KEY_ARRAY_INDEXES: Final = "array-indexes"
KEY_SRUN: Final = "srun"  # Slurm jobs: srun for steps inside the pod, on PATH from BIN_DIR
BIN_DIR: Final = f"{CONFIG_MOUNT}/bin"
# Where a file is mounted, when not at CONFIG_MOUNT/<key> (a directory of commands only, for PATH).
FILE_PATHS: Final = {KEY_SRUN: f"bin/{KEY_SRUN}"}

-- batch-bridge site settings for job_submit.lua (a Lua table). lab/batch writes the lab's copy with
-- the real uids; a site edits this file (see docs/admin/slurm.md).
return {
	-- Partitions whose jobs run on Kubernetes (the daemon's slurm.partitions must match).
	partitions = { "k8s" },
	-- Who may change StartTime, priority and partition of bridged jobs: root, SlurmUser, the bridge.
	admin_uids = { 0 },
	-- Lowest uid allowed to submit to the bridged partitions.
	min_uid = 1000,
	-- The gateway shim, as installed on every gateway node.
	shim = "/etc/slurm/bridge-site/shim",
}

--[[
batch-bridge job_submit.lua: jobs for the bridged partitions run as Kubernetes Jobs.

At submit (sbatch -p k8s): refuse what the bridge cannot run, with a message sbatch prints; keep the
user's script, behind a three-line header that runs the gateway shim instead; hold the job with a begin
time ten years out (not priority 0: a begin-time hold keeps slurmctld's "can this ever run" check);
mark it in AdminComment, which only administrators can write. The batch-bridge daemon finds held jobs,
runs them on Kubernetes and releases them (StartTime=now) when the pod runs.

At modify: users cannot release, re-prioritise or re-partition a bridged job, nor move a job into or
out of a bridged partition; only the administrators in site.lua can.

Site settings come from site.lua next to this file's site directory (see docs/admin/slurm.md).
]]

local SITE_DIR = "/etc/slurm/bridge-site"
local site = dofile(SITE_DIR .. "/site.lua")

local HEADER = "#!/bin/sh\n"
	.. "# batch-bridge: this job runs on Kubernetes; the gateway shim below waits for it.\n"
	.. "exec " .. site.shim .. "\n"
	.. "# ---- batch-bridge: the submitted script follows ----\n"
local HOLD_SECONDS = 10 * 365 * 86400
local EXTRA_MAX = 1024      -- slurmctld's limit on Extra (24.11: "strlen(extra) too big")
local PAYLOAD_MAX = 60000   -- AdminComment is a TEXT column (64 KiB) in slurmdbd's job table

local bridged = {}
for _, p in ipairs(site.partitions) do bridged[p] = true end
local admins = {}
for _, uid in ipairs(site.admin_uids) do admins[uid] = true end

local function split(list)
	local out = {}
	for p in string.gmatch(list or "", "[^,]+") do out[#out + 1] = p end
	return out
end

-- "all" when every partition in the list is bridged, "none" when none is, else "mixed".
local function classify(list)
	local n, b = 0, 0
	for _, p in ipairs(split(list)) do
		n = n + 1
		if bridged[p] then b = b + 1 end
	end
	if b == 0 then return "none" elseif b == n then return "all" else return "mixed" end
end

local function names()
	return table.concat(site.partitions, ",")
end

-- What the daemon needs besides the Slurm record: the script's arguments and the user's own -o/-e/-i
-- patterns (hex, so any byte survives), then the submitted script. It travels in the job's Extra field
-- (admins and this guard only), or after the marker in AdminComment when it is too big for Extra,
-- because slurmrestd has no batch-script endpoint; the daemon clears both once the Kubernetes Job
-- holds the script.
local function hex(s)
	if s == nil then return "" end
	return (string.gsub(s, ".", function(c) return string.format("%02x", string.byte(c)) end))
end

local function payload(job_desc)
	local args = {}
	local argv = job_desc.argv or {}
	for i = 1, #argv do args[#args + 1] = hex(argv[i]) end
	-- sbatch exports SLURM_SUBMIT_DIR (its cwd); the record keeps only the working directory.
	local ok, dir = pcall(function() return job_desc.environment["SLURM_SUBMIT_DIR"] end)
	if not ok or type(dir) ~= "string" then dir = nil end
	return "batch-bridge-script v1 args=" .. #args .. " out=" .. hex(job_desc.std_out) .. " err="
		.. hex(job_desc.std_err) .. " in=" .. hex(job_desc.std_in) .. " dir=" .. hex(dir) .. "\n"
		.. table.concat(args, "\n")
		.. (#args > 0 and "\n" or "") .. job_desc.script
end

local function refuse(msg)
	slurm.log_user("batch-bridge: %s", msg)
	return slurm.ERROR
end

local function set(v)
	return v ~= nil and v ~= slurm.NO_VAL and v ~= slurm.NO_VAL16 and v ~= slurm.NO_VAL64
end

function slurm_job_submit(job_desc, part_list, submit_uid)
	local kind = classify(job_desc.partition)
	if kind == "none" then return slurm.SUCCESS end
	if kind == "mixed" then
		return refuse("partition list '" .. job_desc.partition .. "' mixes Kubernetes partitions (" .. names()
			.. ") with others; name one kind")
	end
	if job_desc.script == nil then
		return refuse("partition '" .. job_desc.partition .. "' runs batch jobs on Kubernetes; srun and salloc "
			.. "into it are refused (use sbatch, or srun inside the batch script)")
	end
	if submit_uid == 0 or submit_uid < site.min_uid then
		return refuse("uid " .. submit_uid .. " may not run jobs on Kubernetes (root and system accounts, uid below "
			.. site.min_uid .. ", are refused)")
	end
	if set(job_desc.min_nodes) and job_desc.min_nodes > 1 then
		return refuse("jobs on partition " .. job_desc.partition .. " run in one Kubernetes pod: -N "
			.. job_desc.min_nodes .. " (more than one node) is not supported")
	end
	if job_desc.priority == 0 then
		return refuse("--hold is not supported on partition " .. job_desc.partition
			.. " (the bridge holds and releases these jobs itself); use --begin or a dependency")
	end
	if job_desc.extra ~= nil and job_desc.extra ~= "" then
		return refuse("--extra is reserved on partition " .. job_desc.partition .. " (batch-bridge uses it)")
	end
	local begin = 0
	if set(job_desc.begin_time) and job_desc.begin_time > os.time() then begin = job_desc.begin_time end
	-- The pod writes the user's output files on shared storage; slurmd would open (and truncate) them
	-- again when the shim starts, after the pod began writing. So the shim's streams are /dev/null and
	-- the user's patterns travel in the payload. (job_submit/lua cannot read or set --open-mode.)
	local kept = payload(job_desc)
	if #kept > PAYLOAD_MAX then
		return refuse(string.format("the script and its arguments are too large for partition %s (%d bytes; "
			.. "at most %d): keep large data in files", job_desc.partition, #kept, PAYLOAD_MAX))
	end
	local marker = string.format("batch-bridge[v1 b=%d] queued for Kubernetes", begin)
	-- slurmctld takes at most 1024 bytes of Extra; a bigger payload follows the marker in AdminComment
	-- (no limit there) until the daemon takes the job in and writes its own status over it.
	if #kept <= EXTRA_MAX then
		job_desc.extra = kept
		job_desc.admin_comment = marker
	else
		job_desc.admin_comment = marker .. "\n" .. kept
	end
	job_desc.std_out = "/dev/null"
	job_desc.std_err = "/dev/null"
	job_desc.std_in = "/dev/null"
	job_desc.begin_time = os.time() + HOLD_SECONDS
	job_desc.script = HEADER .. job_desc.script
	return slurm.SUCCESS
end

function slurm_job_modify(job_desc, job_rec, part_list, modify_uid)
	if admins[modify_uid] then return slurm.SUCCESS end
	local now = classify(job_rec.partition)
	if job_desc.partition ~= nil then
		local to = classify(job_desc.partition)
		if to == "mixed" or (to == "none") ~= (now == "none") then
			return refuse("jobs cannot be moved into or out of the Kubernetes partitions (" .. names() .. ")")
		end
	end
	if now == "none" then return slurm.SUCCESS end
	if set(job_desc.begin_time) and job_desc.begin_time ~= 0 then
		return refuse("the start of a Kubernetes job is set by batch-bridge; StartTime cannot be changed")
	end
	if job_desc.extra ~= nil then
		return refuse("Extra of a Kubernetes job belongs to batch-bridge and cannot be changed")
	end
	if set(job_desc.priority) then
		return refuse("a Kubernetes job is held and released by batch-bridge; its priority cannot be changed "
			.. "(scancel it instead)")
	end
	return slurm.SUCCESS
end

slurm.log_info("batch-bridge job_submit.lua loaded: partitions %s", names())
return slurm.SUCCESS

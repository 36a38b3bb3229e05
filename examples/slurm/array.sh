#!/bin/bash
#SBATCH -J sweep
#SBATCH -p k8s
#SBATCH -t 10
#SBATCH --array=0-9:3,20%2
#SBATCH -o sweep-%A_%a.out
# Four tasks (0, 3, 6, 9) plus task 20, at most two at a time; one output file per task.
echo "task $SLURM_ARRAY_TASK_ID of $SLURM_ARRAY_TASK_COUNT (array job $SLURM_ARRAY_JOB_ID)"

#!/bin/bash
#SBATCH --job-name=hello
#SBATCH --partition=k8s
#SBATCH --time=00:05:00
#SBATCH --mem=256M
echo "hello from $(hostname) as $(whoami 2>/dev/null || id -u), job $SLURM_JOB_ID"

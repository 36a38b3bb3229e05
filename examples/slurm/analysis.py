#!/usr/bin/env python3
#SBATCH --job-name=analysis
#SBATCH --partition=k8s
#SBATCH --time=15
#SBATCH --output=analysis-%j.log
"""A Python batch script: sbatch reads the #SBATCH comments, the interpreter comes from the #! line."""
import os

print("job", os.environ["SLURM_JOB_ID"], "in", os.getcwd())

"""Flower's config file: `celery -A tasks.worker flower --conf=config/flowerconfig.py` (the Procfile's line).

Flower executes this file and takes every module-level name that is one of its options, so the
options come from the same settings (and `.env`) as every other process, with nothing on the
command line. A bad setting stops Flower here with a message naming the variable.
"""
from config.flower import flower_options
from config.settings import load_settings

globals().update(flower_options(load_settings()))

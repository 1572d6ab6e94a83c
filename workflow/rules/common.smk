from mri_sr.config import validate_config, write_section


validate_config(config, name="workflow config")

# Each rule reads only the sections it depends on.
DATA_CONFIG = write_section(config, ["seed", "data"], "results/config/data.yaml")

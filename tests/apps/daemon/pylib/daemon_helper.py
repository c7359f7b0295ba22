# Importable only through the daemon group's python-path= option.
VALUE = 'daemon-helper-7'

VALUE = 'helper-value-42'

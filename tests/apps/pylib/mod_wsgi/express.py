MARKER = 'express-marker-7f3a'

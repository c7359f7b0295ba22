# Writes bench.sqlite3 next to this file: the bench_item table of
# djbench.models.Item with 200 rows (some out of stock).
import os
import sqlite3
import sys

path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "bench.sqlite3")
if os.path.exists(path):
    os.unlink(path)
db = sqlite3.connect(path)
db.execute("CREATE TABLE bench_item (id INTEGER PRIMARY KEY AUTOINCREMENT,"
           " name VARCHAR(100) NOT NULL, price DECIMAL NOT NULL, stock INTEGER NOT NULL)")
db.executemany("INSERT INTO bench_item (name, price, stock) VALUES (?, ?, ?)",
               [("item %d <%s> & co" % (n, "abcdefghij"[n % 10]),
                 "%.2f" % ((n * 37) % 500 / 4 + 0.99), n % 9) for n in range(1, 201)])
db.commit()
db.close()

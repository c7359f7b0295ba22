from django.db import models


class Item(models.Model):
    # The table is written by make_db.py, not by migrations.
    name = models.CharField(max_length=100)
    price = models.DecimalField(max_digits=8, decimal_places=2)
    stock = models.IntegerField()

    class Meta:
        managed = False
        db_table = "bench_item"

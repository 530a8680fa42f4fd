# Every path of data through the pipeline imports the warehouse: its Arrow batches are allocated
# from the pool chosen here (see warehouse.arrow_memory).
from warehouse.arrow_memory import use_system_pool

use_system_pool()

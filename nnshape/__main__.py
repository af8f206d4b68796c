from .cli import run

if __name__ == "__main__":  # multiprocessing (verify --dp) imports this module again in its workers
    run()

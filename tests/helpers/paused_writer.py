"""``python tests/helpers/paused_writer.py GO_FILE textdeconv ARGS...``: the ``textdeconv`` command,
paused after its first committed step (a streamed job's first block, a training's first epoch)
until GO_FILE exists, so a test can try a second writer while this one certainly holds its lock."""
import sys
import time
from pathlib import Path


def wait(go: Path) -> None:
    t0 = time.time()
    while not go.exists() and time.time() - t0 < 300:
        time.sleep(0.02)


def main() -> None:
    go, argv = Path(sys.argv[1]), sys.argv[3:]
    import textdeconv.reports.stream as stream

    commit = stream.ExplainJob._commit

    def paused_commit(self, state):
        commit(self, state)
        wait(go)

    stream.ExplainJob._commit = paused_commit
    if argv[0] == "train":
        import textdeconv.training.trainer as trainer

        end = trainer.RunRecorder.on_epoch_end

        def paused_epoch_end(self, epoch, logs=None):
            end(self, epoch, logs)
            wait(go)

        trainer.RunRecorder.on_epoch_end = paused_epoch_end
    from textdeconv.cli import main as cli

    cli(argv)


if __name__ == "__main__":
    main()

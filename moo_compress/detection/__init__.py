"""Object detection: the shapes and COCO datasets (``data``), the CenterNet-style detector
(``model``) and COCO mAP through pycocotools (``metrics``); the evaluator of detection
studies is :class:`moo_compress.evaluation.detection.DetectionEvaluator`."""
